//! Temporary download URLs: `…/Media/{ME}/Content?Expires=<unix>&Signature=<mac>`.
//!
//! The MAC (HMAC-SHA256, keyed by a key derived from the master key) covers
//! the method, the media SID and the expiry, and is checked in constant
//! time. Anyone holding the URL may download until it expires; a changed
//! SID, expiry or signature, or a URL used for another media, is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::crypto::SecretKey;

pub struct UrlSigner {
    key: SecretKey,
    ttl_secs: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Signature missing, malformed or wrong (for this SID and expiry).
    BadSignature,
    Expired,
}

impl UrlSigner {
    pub fn new(master: &SecretKey, ttl_secs: i64) -> UrlSigner {
        UrlSigner { key: master.derive("confab temporary media urls v1"), ttl_secs }
    }

    fn mac(&self, media_sid: &str, expires: i64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.key.expose()).expect("any key length works for HMAC");
        mac.update(format!("GET\n{media_sid}\n{expires}").as_bytes());
        mac
    }

    /// `(expires, signature)` for a URL valid `ttl` seconds from `now`.
    pub fn sign(&self, media_sid: &str, now: i64) -> (i64, String) {
        let expires = now + self.ttl_secs;
        let sig = URL_SAFE_NO_PAD.encode(self.mac(media_sid, expires).finalize().into_bytes());
        (expires, sig)
    }

    /// Checks a presented expiry and signature. An expiry further away than
    /// the TTL allows is refused too, so no URL outlives the configured TTL.
    pub fn verify(&self, media_sid: &str, expires: &str, signature: &str, now: i64) -> Result<(), Refusal> {
        let expires: i64 = expires.parse().map_err(|_| Refusal::BadSignature)?;
        let presented = URL_SAFE_NO_PAD.decode(signature).map_err(|_| Refusal::BadSignature)?;
        self.mac(media_sid, expires).verify_slice(&presented).map_err(|_| Refusal::BadSignature)?;
        if now > expires || expires > now + self.ttl_secs + 5 {
            return Err(Refusal::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_sid_and_expiry() {
        let signer = UrlSigner::new(&SecretKey::random(), 300);
        let (expires, sig) = signer.sign("ME1", 1000);
        assert_eq!(expires, 1300);
        assert_eq!(signer.verify("ME1", "1300", &sig, 1000), Ok(()));
        assert_eq!(signer.verify("ME1", "1300", &sig, 1300), Ok(()));
        assert_eq!(signer.verify("ME1", "1300", &sig, 1301), Err(Refusal::Expired));
        assert_eq!(signer.verify("ME2", "1300", &sig, 1000), Err(Refusal::BadSignature));
        assert_eq!(signer.verify("ME1", "1301", &sig, 1000), Err(Refusal::BadSignature));
        assert_eq!(signer.verify("ME1", "1300", "AAAA", 1000), Err(Refusal::BadSignature));
        assert_eq!(signer.verify("ME1", "soon", &sig, 1000), Err(Refusal::BadSignature));
        let other = UrlSigner::new(&SecretKey::random(), 300);
        assert_eq!(other.verify("ME1", "1300", &sig, 1000), Err(Refusal::BadSignature));
    }
}
