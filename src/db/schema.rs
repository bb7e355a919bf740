// One schema for both dialects: the migrations in migrations/sqlite and
// migrations/postgresql create these tables with these column types.

diesel::table! {
    accounts (id) {
        id -> BigInt,
        sid -> Text,
        friendly_name -> Text,
        auth_token_hash -> Text,
        default_service_sid -> Nullable<Text>,
        default_messaging_service_sid -> Nullable<Text>,
        default_inactive_timer -> Nullable<Text>,
        default_closed_timer -> Nullable<Text>,
        date_created -> BigInt,
        date_updated -> BigInt,
        auth_token_key_id -> Nullable<Text>,
        auth_token_sealed -> Nullable<Binary>,
        console_key_sid -> Nullable<Text>,
    }
}

diesel::table! {
    services (id) {
        id -> BigInt,
        sid -> Text,
        account_sid -> Text,
        friendly_name -> Text,
        default_conversation_creator_role_sid -> Nullable<Text>,
        default_conversation_role_sid -> Nullable<Text>,
        default_chat_service_role_sid -> Nullable<Text>,
        reachability_enabled -> Bool,
        date_created -> BigInt,
        date_updated -> BigInt,
        media_compatibility_message -> Nullable<Text>,
        read_status_enabled -> Bool,
        typing_indicator_timeout -> BigInt,
        consumption_report_interval -> BigInt,
        limit_channel_members -> BigInt,
        limit_user_channels -> BigInt,
        notifications -> Text,
    }
}

diesel::table! {
    roles (id) {
        id -> BigInt,
        sid -> Text,
        account_sid -> Text,
        service_sid -> Text,
        friendly_name -> Text,
        role_type -> Text,
        permissions -> Text,
        date_created -> BigInt,
        date_updated -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        sid -> Text,
        account_sid -> Text,
        service_sid -> Text,
        identity -> Text,
        friendly_name -> Nullable<Text>,
        attributes -> Text,
        role_sid -> Text,
        date_created -> BigInt,
        date_updated -> BigInt,
    }
}

diesel::table! {
    conversations (id) {
        id -> BigInt,
        sid -> Text,
        account_sid -> Text,
        service_sid -> Text,
        unique_name -> Nullable<Text>,
        friendly_name -> Nullable<Text>,
        attributes -> Text,
        messaging_service_sid -> Nullable<Text>,
        state -> Text,
        created_by -> Text,
        timer_inactive_secs -> Nullable<BigInt>,
        timer_closed_secs -> Nullable<BigInt>,
        date_inactive -> Nullable<BigInt>,
        date_closed -> Nullable<BigInt>,
        email_address -> Nullable<Text>,
        email_name -> Nullable<Text>,
        last_message_index -> BigInt,
        date_created -> BigInt,
        date_updated -> BigInt,
        channel_type -> Text,
        invite_only -> Bool,
    }
}

diesel::table! {
    participants (id) {
        id -> BigInt,
        sid -> Text,
        account_sid -> Text,
        service_sid -> Text,
        conversation_sid -> Text,
        identity -> Nullable<Text>,
        user_sid -> Nullable<Text>,
        attributes -> Text,
        role_sid -> Text,
        binding_type -> Nullable<Text>,
        binding_address -> Nullable<Text>,
        binding_proxy_address -> Nullable<Text>,
        binding_projected_address -> Nullable<Text>,
        last_read_message_index -> Nullable<BigInt>,
        last_read_timestamp -> Nullable<BigInt>,
        notification_level -> Text,
        date_created -> BigInt,
        date_updated -> BigInt,
    }
}

diesel::table! {
    messages (conversation_sid, msg_index) {
        sid -> Text,
        account_sid -> Text,
        service_sid -> Text,
        conversation_sid -> Text,
        msg_index -> BigInt,
        author -> Text,
        body -> Nullable<Text>,
        attributes -> Text,
        participant_sid -> Nullable<Text>,
        content_sid -> Nullable<Text>,
        subject -> Nullable<Text>,
        date_created -> BigInt,
        date_updated -> BigInt,
        media -> Nullable<Text>,
        last_updated_by -> Nullable<Text>,
        was_edited -> Bool,
    }
}

diesel::table! {
    media (sid) {
        sid -> Text,
        account_sid -> Text,
        service_sid -> Text,
        state -> Text,
        content_type -> Text,
        filename -> Nullable<Text>,
        category -> Text,
        author -> Text,
        size -> BigInt,
        digest -> Nullable<Text>,
        object_key -> Text,
        key_id -> Text,
        wrapped_key -> Binary,
        nonce_prefix -> Binary,
        message_sid -> Nullable<Text>,
        conversation_sid -> Nullable<Text>,
        position -> Nullable<BigInt>,
        date_created -> BigInt,
        date_upload_updated -> BigInt,
        date_updated -> BigInt,
        multipart_id -> Nullable<Text>,
    }
}

diesel::table! {
    storage_deletions (object_key) {
        object_key -> Text,
        date_created -> BigInt,
        claimed_until -> BigInt,
        attempts -> BigInt,
        multipart_id -> Nullable<Text>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        sid -> Text,
        account_sid -> Text,
        friendly_name -> Nullable<Text>,
        secret_hash -> Text,
        key_id -> Text,
        secret_sealed -> Binary,
        date_created -> BigInt,
        date_updated -> BigInt,
    }
}

diesel::table! {
    /// The event log (src/store/events.rs).
    events (position) {
        position -> BigInt,
        account_sid -> Text,
        service_sid -> Text,
        conversation_sid -> Nullable<Text>,
        kind -> Text,
        resource_sid -> Text,
        data -> Text,
        update_reasons -> Nullable<Text>,
        date_created -> BigInt,
        source -> Nullable<Text>,
        client_identity -> Nullable<Text>,
        webhooks -> Bool,
    }
}

diesel::table! {
    /// A service's webhooks (src/store/webhooks.rs).
    service_webhooks (service_sid) {
        service_sid -> Text,
        account_sid -> Text,
        pre_webhook_url -> Nullable<Text>,
        post_webhook_url -> Nullable<Text>,
        method -> Text,
        filters -> Text,
        target -> Text,
        date_updated -> BigInt,
        api -> Text,
        pre_retry_count -> Integer,
        post_retry_count -> Integer,
    }
}

diesel::table! {
    /// Conversation-scoped webhooks (src/store/webhooks.rs).
    conversation_webhooks (id) {
        id -> BigInt,
        sid -> Text,
        account_sid -> Text,
        service_sid -> Text,
        conversation_sid -> Text,
        target -> Text,
        url -> Nullable<Text>,
        method -> Text,
        filters -> Text,
        triggers -> Text,
        flow_sid -> Nullable<Text>,
        replay_after -> Nullable<BigInt>,
        replayed_through -> Nullable<BigInt>,
        date_created -> BigInt,
        date_updated -> BigInt,
        api -> Text,
        retry_count -> Integer,
    }
}

diesel::table! {
    /// Post-event deliveries still owed (src/store/deliveries.rs).
    webhook_deliveries (id) {
        id -> BigInt,
        account_sid -> Text,
        position -> BigInt,
        event_type -> Text,
        webhook -> Text,
        url -> Text,
        method -> Text,
        queue -> Text,
        params -> Text,
        token -> Text,
        attempts -> Integer,
        due -> BigInt,
        expires -> BigInt,
        leased_until -> BigInt,
        date_created -> BigInt,
        max_attempts -> Nullable<Integer>,
    }
}

diesel::table! {
    webhook_cursor (id) {
        id -> Integer,
        position -> BigInt,
        owner -> BigInt,
        leased_until -> BigInt,
    }
}

diesel::table! {
    event_log (id) {
        id -> Integer,
        pruned_through -> BigInt,
    }
}

diesel::table! {
    /// Chat's invites (src/store/invites.rs).
    invites (id) {
        id -> BigInt,
        sid -> Text,
        account_sid -> Text,
        service_sid -> Text,
        conversation_sid -> Text,
        identity -> Text,
        role_sid -> Text,
        created_by -> Text,
        date_created -> BigInt,
        date_updated -> BigInt,
    }
}

diesel::table! {
    /// Push credentials (src/store/push_credentials.rs).
    push_credentials (id) {
        id -> BigInt,
        sid -> Text,
        account_sid -> Text,
        friendly_name -> Nullable<Text>,
        credential_type -> Text,
        sandbox -> Nullable<Bool>,
        key_id -> Text,
        secrets_sealed -> Binary,
        date_created -> BigInt,
        date_updated -> BigInt,
    }
}

diesel::table! {
    /// Push registrations (src/store/bindings.rs).
    bindings (id) {
        id -> BigInt,
        sid -> Text,
        account_sid -> Text,
        service_sid -> Text,
        user_sid -> Text,
        identity -> Text,
        credential_sid -> Text,
        binding_type -> Text,
        endpoint -> Text,
        address -> Text,
        message_types -> Text,
        date_created -> BigInt,
        date_updated -> BigInt,
    }
}

diesel::table! {
    /// The cluster's master keys, by fingerprint (src/store/master_keys.rs).
    master_keys (key_id) {
        key_id -> Text,
        state -> Text,
        date_created -> BigInt,
        date_updated -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    services,
    roles,
    users,
    conversations,
    participants,
    messages,
    media,
    storage_deletions,
    api_keys,
    invites,
);
