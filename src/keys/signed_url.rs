//! Temporary download URLs: `…/Services/{IS}/Media/{ME}/Content?Expires=<unix>&Signature=<mac>`.
//!
//! The MAC (HMAC-SHA256, keyed by a key derived from the master key) covers
//! the method, the service SID, the media SID and the expiry, and is checked
//! in constant time. Anyone holding the URL may download until it expires;
//! any change to the path's SIDs, the expiry or the signature is refused.
//!
//! URLs are signed with the current master key's signing key and verified
//! against the previous keys' too: a URL minted just before a key rotation
//! keeps working until it expires.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::keyring::{Keyring, SecretKey};

const LABEL: &str = "confab temporary media urls v1";

pub struct UrlSigner {
    /// Derived from the current master key: signs and verifies.
    current: SecretKey,
    /// Derived from previous master keys: only verify.
    previous: Vec<SecretKey>,
    ttl_secs: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Signature missing, malformed or wrong (for these SIDs and expiry).
    BadSignature,
    Expired,
}

impl UrlSigner {
    pub fn new(master: &SecretKey, ttl_secs: i64) -> UrlSigner {
        UrlSigner { current: master.derive(LABEL), previous: Vec::new(), ttl_secs }
    }

    /// Signs with the keyring's current key; verifies with any of its keys.
    pub fn for_keyring(keyring: &Keyring, ttl_secs: i64) -> UrlSigner {
        UrlSigner {
            current: keyring.current().derive(LABEL),
            previous: keyring.previous().iter().map(|k| k.derive(LABEL)).collect(),
            ttl_secs,
        }
    }

    /// The longest a URL may stay valid.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    fn mac(key: &SecretKey, service_sid: &str, media_sid: &str, expires: i64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.expose()).expect("any key length works for HMAC");
        mac.update(format!("GET\n{service_sid}\n{media_sid}\n{expires}").as_bytes());
        mac
    }

    /// `(expires, signature)` for a URL valid `ttl` seconds from `now`.
    pub fn sign(&self, service_sid: &str, media_sid: &str, now: i64) -> (i64, String) {
        let expires = now + self.ttl_secs;
        let mac = Self::mac(&self.current, service_sid, media_sid, expires);
        (expires, URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// Checks a presented expiry and signature, and returns the expiry. An
    /// expiry further away than the TTL allows is refused too, so no URL
    /// outlives the configured TTL.
    pub fn verify(
        &self,
        service_sid: &str,
        media_sid: &str,
        expires: &str,
        signature: &str,
        now: i64,
    ) -> Result<i64, Refusal> {
        let expires: i64 = expires.parse().map_err(|_| Refusal::BadSignature)?;
        let presented = URL_SAFE_NO_PAD.decode(signature).map_err(|_| Refusal::BadSignature)?;
        let genuine = std::iter::once(&self.current)
            .chain(&self.previous)
            .any(|key| Self::mac(key, service_sid, media_sid, expires).verify_slice(&presented).is_ok());
        if !genuine {
            return Err(Refusal::BadSignature);
        }
        if now > expires || expires > now + self.ttl_secs + 5 {
            return Err(Refusal::Expired);
        }
        Ok(expires)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_sids_and_expiry() {
        let signer = UrlSigner::new(&SecretKey::random(), 300);
        let (expires, sig) = signer.sign("IS1", "ME1", 1000);
        assert_eq!(expires, 1300);
        assert_eq!(signer.verify("IS1", "ME1", "1300", &sig, 1000), Ok(1300));
        assert_eq!(signer.verify("IS1", "ME1", "1300", &sig, 1300), Ok(1300));
        assert_eq!(signer.verify("IS1", "ME1", "1300", &sig, 1301), Err(Refusal::Expired));
        assert_eq!(signer.verify("IS1", "ME2", "1300", &sig, 1000), Err(Refusal::BadSignature));
        assert_eq!(signer.verify("IS2", "ME1", "1300", &sig, 1000), Err(Refusal::BadSignature));
        assert_eq!(signer.verify("IS1", "ME1", "1301", &sig, 1000), Err(Refusal::BadSignature));
        assert_eq!(signer.verify("IS1", "ME1", "1300", "AAAA", 1000), Err(Refusal::BadSignature));
        assert_eq!(signer.verify("IS1", "ME1", "soon", &sig, 1000), Err(Refusal::BadSignature));
        let other = UrlSigner::new(&SecretKey::random(), 300);
        assert_eq!(other.verify("IS1", "ME1", "1300", &sig, 1000), Err(Refusal::BadSignature));
    }

    #[test]
    fn urls_signed_before_a_rotation_verify_after_it() {
        let (old, new) = (SecretKey::random(), SecretKey::random());
        let before = UrlSigner::for_keyring(&Keyring::new(old.clone(), Vec::new()), 300);
        let after = UrlSigner::for_keyring(&Keyring::new(new.clone(), vec![old]), 300);
        let (_, minted_before) = before.sign("IS1", "ME1", 1000);
        assert_eq!(after.verify("IS1", "ME1", "1300", &minted_before, 1000), Ok(1300));
        let (_, minted_after) = after.sign("IS1", "ME1", 1000);
        assert_eq!(
            minted_after,
            UrlSigner::new(&new, 300).sign("IS1", "ME1", 1000).1,
            "signed with the new key"
        );
        assert_eq!(before.verify("IS1", "ME1", "1300", &minted_after, 1000), Err(Refusal::BadSignature));
    }
}
