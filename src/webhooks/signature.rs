//! `X-Twilio-Signature`, computed as Twilio computes it, so a receiver's
//! `RequestValidator` (twilio-python) or `validateRequest` (twilio-node)
//! accepts Confab's requests unchanged: base64 of HMAC-SHA1, keyed with the
//! account's Auth Token, over the URL exactly as configured (query string
//! included, never re-encoded or reordered) followed by each form
//! parameter's name and value, names sorted, and for a repeated name its
//! distinct values sorted. A `GET` request's parameters are in its URL, so
//! its form part is empty.

use std::borrow::Cow;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// The signature of a request to `url` with form `params`.
pub fn sign<K: AsRef<str>, V: AsRef<str>>(auth_token: &str, url: &str, params: &[(K, V)]) -> String {
    let mut pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (name, value) in pairs {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The signature of a `POST` to `url` whose body is `form`
/// (`application/x-www-form-urlencoded`): its parameters as the receiver
/// decodes them, borrowed from `form` where nothing was escaped.
pub fn sign_form(auth_token: &str, url: &str, form: &str) -> String {
    let params: Vec<(Cow<'_, str>, Cow<'_, str>)> = form_urlencoded::parse(form.as_bytes()).collect();
    sign(auth_token, url, &params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Twilio's documented vector, which twilio-python 9.13.0 reproduces.
    #[test]
    fn twilio_documented_vector() {
        let p = params(&[
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
        ]);
        assert_eq!(
            sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &p),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    /// Values of a repeated name are sorted, and a repeated pair counts once
    /// (twilio-node#722: validators that did not sort values failed here).
    #[test]
    fn repeated_names_sort_their_values_and_collapse_duplicates() {
        let a = params(&[("Address", "b"), ("Address", "a"), ("X", "1")]);
        let b = params(&[("X", "1"), ("Address", "a"), ("Address", "b"), ("Address", "a")]);
        assert_eq!(sign("t", "https://h/p", &a), sign("t", "https://h/p", &b));
        let c = params(&[("Address", "ab"), ("X", "1")]);
        assert_ne!(sign("t", "https://h/p", &a), sign("t", "https://h/p", &c));
    }

    /// Repeated names as in a group-MMS `onConversationAdd`, a duplicate
    /// pair, and a query string: the signature twilio-python 9.13.0's
    /// `RequestValidator.compute_signature` gives for the same request.
    #[test]
    fn repeated_parameters_vector_from_twilio_python() {
        let p = params(&[
            ("MessagingBinding.Address", "+15550002"),
            ("EventType", "onConversationAdd"),
            ("MessagingBinding.Address", "+15550001"),
            ("MessagingBinding.Address", "+15550002"),
            ("RetryCount", "0"),
        ]);
        assert_eq!(sign("12345", "https://example.com/hook?b=2&a=1", &p), "q7t0sySqGunlrLRZXg2GF2JS2yU=");
    }

    /// A form is signed as the parameters it decodes to.
    #[test]
    fn a_form_is_signed_as_its_decoded_parameters() {
        let p = params(&[("Body", "a b&c=d"), ("Media", "[{\"x\": 1}]"), ("Body", "ü")]);
        let form = form_urlencoded::Serializer::new(String::new()).extend_pairs(&p).finish();
        assert_eq!(sign_form("12345", "https://h/p?q=1", &form), sign("12345", "https://h/p?q=1", &p));
        assert_eq!(sign_form("t", "https://h/p", ""), sign::<&str, &str>("t", "https://h/p", &[]));
    }

    /// A JSON body is signed as Twilio does it: the URL carries its hash, no params.
    #[test]
    fn url_only_vector() {
        let url = "https://example.com/hook?bodySHA256=015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862";
        assert_eq!(sign::<&str, &str>("12345", url, &[]), "2e7mH/NA6FwzvUqLZxhsETU/4bw=");
    }
}
