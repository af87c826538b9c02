//! The key from `CLARA_SECRET_KEY` (`[runtime] secret_key_env`): it seals users' connection
//! tokens (ChaCha20-Poly1305, bound to whose they are) and signs OAuth links (HMAC-SHA256).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// A secret too short to be a key: it could be guessed.
const SHORTEST_SECRET: usize = 16;

/// Why sealed bytes could not be opened: another key, another owner, or tampering.
#[derive(Debug, thiserror::Error)]
#[error("the stored token cannot be opened with this key (was CLARA_SECRET_KEY changed?)")]
pub struct Unsealable;

/// The two keys derived from the secret.
pub struct SecretKey {
    seal: LessSafeKey,
    sign: hmac::Key,
    random: SystemRandom,
}

impl SecretKey {
    /// Derives the keys from `secret`; `None` when it is shorter than 16 characters.
    pub fn from_secret(secret: &str) -> Option<SecretKey> {
        if secret.trim().len() < SHORTEST_SECRET {
            return None;
        }
        let root = hmac::Key::new(hmac::HMAC_SHA256, secret.trim().as_bytes());
        let derive = |purpose: &[u8]| hmac::sign(&root, purpose);
        let seal = UnboundKey::new(
            &CHACHA20_POLY1305,
            derive(b"clara connection tokens").as_ref(),
        )
        .expect("a 32-byte key");
        Some(SecretKey {
            seal: LessSafeKey::new(seal),
            sign: hmac::Key::new(hmac::HMAC_SHA256, derive(b"clara oauth state").as_ref()),
            random: SystemRandom::new(),
        })
    }

    /// Encrypts `plain` for `owner` (opened only with the same owner): a random nonce, then
    /// the ciphertext and its tag.
    pub fn seal(&self, plain: &[u8], owner: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .expect("the system has randomness");
        let mut sealed = plain.to_vec();
        self.seal
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.as_bytes()),
                &mut sealed,
            )
            .expect("a token is far below the cipher's limit");
        let mut out = nonce.to_vec();
        out.append(&mut sealed);
        out
    }

    /// Decrypts what [`seal`](Self::seal) made for `owner`.
    pub fn open(&self, sealed: &[u8], owner: &str) -> Result<Vec<u8>, Unsealable> {
        if sealed.len() < NONCE_LEN {
            return Err(Unsealable);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unsealable)?;
        let mut body = body.to_vec();
        let plain = self
            .seal
            .open_in_place(nonce, Aad::from(owner.as_bytes()), &mut body)
            .map_err(|_| Unsealable)?;
        Ok(plain.to_vec())
    }

    /// The signature of `data`, URL-safe.
    pub fn sign(&self, data: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.sign, data))
    }

    /// Whether `signature` is `data`'s, compared in constant time.
    pub fn verify(&self, data: &[u8], signature: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(signature)
            .is_ok_and(|tag| hmac::verify(&self.sign, data, &tag).is_ok())
    }

    /// `n` random bytes, URL-safe.
    pub fn random(&self, n: usize) -> String {
        let mut bytes = vec![0u8; n];
        self.random
            .fill(&mut bytes)
            .expect("the system has randomness");
        URL_SAFE_NO_PAD.encode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_tokens_open_only_for_their_owner_and_key() {
        let key = SecretKey::from_secret("correct horse battery staple").expect("long enough");
        let sealed = key.seal(b"ya29.token", "ann\0google");
        assert!(
            !sealed.windows(10).any(|w| w == b"ya29.token"),
            "not in the clear"
        );
        assert_eq!(key.open(&sealed, "ann\0google").unwrap(), b"ya29.token");
        assert!(
            key.open(&sealed, "bob\0google").is_err(),
            "bound to its owner"
        );
        let other = SecretKey::from_secret("another long secret value").expect("long enough");
        assert!(other.open(&sealed, "ann\0google").is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open(&tampered, "ann\0google").is_err());
        assert!(SecretKey::from_secret("short").is_none());
    }

    #[test]
    fn signatures_check_their_data() {
        let key = SecretKey::from_secret("correct horse battery staple").expect("long enough");
        let signature = key.sign(b"state");
        assert!(key.verify(b"state", &signature));
        assert!(!key.verify(b"statf", &signature));
        assert!(!key.verify(b"state", "not-a-signature"));
    }
}
