//! The same primitives the handshake and the frames use, in three libraries:
//! aws-lc-rs (what skyline-protocol uses), RustCrypto/dalek, and ring. This
//! measures the choice rather than assuming it; `benches/README.md` has figures.
//!
//! Run: `cargo bench -p skyline-protocol --bench crypto_choice`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};

const SEED: [u8; 32] = [0x5a; 32];
const KEY: [u8; 32] = [0x42; 32];
const NONCE: [u8; 12] = [0x24; 12];
const SALT: [u8; 64] = [0x33; 64];
const INFO: &[u8] = b"skyline/v1 session key";
/// Same size as the handshake proof.
const PROOF: [u8; 128] = [0x77; 128];
const SIZES: [(&str, usize); 2] = [("200 B", 200), ("16 KiB", 16 * 1024)];

mod aws {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
    use aws_lc_rs::hkdf;
    use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair};

    pub fn x25519_keygen_agree(peer: &[u8; 32]) -> [u8; 32] {
        let private = PrivateKey::generate(&X25519).unwrap();
        let _public = private.compute_public_key().unwrap();
        agreement::agree(&private, UnparsedPublicKey::new(&X25519, peer), (), |s| {
            Ok(<[u8; 32]>::try_from(s).unwrap())
        })
        .unwrap()
    }

    pub fn peer_public() -> [u8; 32] {
        let private = PrivateKey::generate(&X25519).unwrap();
        private
            .compute_public_key()
            .unwrap()
            .as_ref()
            .try_into()
            .unwrap()
    }

    pub fn signer() -> Ed25519KeyPair {
        Ed25519KeyPair::from_seed_unchecked(&super::SEED).unwrap()
    }

    pub fn sign(pair: &Ed25519KeyPair, message: &[u8]) -> Vec<u8> {
        pair.sign(message).as_ref().to_vec()
    }

    pub fn public(pair: &Ed25519KeyPair) -> Vec<u8> {
        pair.public_key().as_ref().to_vec()
    }

    pub fn verify(public: &[u8], message: &[u8], sig: &[u8]) -> bool {
        signature::UnparsedPublicKey::new(&signature::ED25519, public)
            .verify(message, sig)
            .is_ok()
    }

    pub fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; 32] {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
        let info = [info];
        let okm = prk.expand(&info, hkdf::HKDF_SHA256).unwrap();
        let mut out = [0u8; 32];
        okm.fill(&mut out).unwrap();
        out
    }

    pub fn aead() -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &super::KEY).unwrap())
    }

    /// Seals in place and appends the tag.
    pub fn seal(key: &LessSafeKey, buf: &mut Vec<u8>) {
        let nonce = Nonce::assume_unique_for_key(super::NONCE);
        let tag = key
            .seal_in_place_separate_tag(nonce, Aad::empty(), buf)
            .unwrap();
        buf.extend_from_slice(tag.as_ref());
    }

    pub fn open(key: &LessSafeKey, sealed: &mut [u8]) -> usize {
        let nonce = Nonce::assume_unique_for_key(super::NONCE);
        key.open_in_place(nonce, Aad::empty(), sealed)
            .unwrap()
            .len()
    }
}

mod rust_crypto {
    use aes_gcm::aead::{AeadInPlace, KeyInit};
    use aes_gcm::{Aes256Gcm, Nonce, Tag};
    use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
    use hkdf::Hkdf;
    use rand_core::OsRng;
    use sha2::Sha256;
    use x25519_dalek::{EphemeralSecret, PublicKey};

    pub fn x25519_keygen_agree(peer: &[u8; 32]) -> [u8; 32] {
        let private = EphemeralSecret::random_from_rng(OsRng);
        let _public = PublicKey::from(&private);
        let shared = private.diffie_hellman(&PublicKey::from(*peer));
        assert!(shared.was_contributory());
        shared.to_bytes()
    }

    pub fn signer() -> SigningKey {
        SigningKey::from_bytes(&super::SEED)
    }

    pub fn sign(key: &SigningKey, message: &[u8]) -> Vec<u8> {
        key.sign(message).to_bytes().to_vec()
    }

    pub fn verify(public: &[u8], message: &[u8], sig: &[u8]) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(public.try_into().unwrap()) else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_slice(sig).unwrap();
        key.verify(message, &sig).is_ok()
    }

    pub fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        Hkdf::<Sha256>::new(Some(salt), ikm)
            .expand(info, &mut out)
            .unwrap();
        out
    }

    pub fn aead() -> Aes256Gcm {
        Aes256Gcm::new_from_slice(&super::KEY).unwrap()
    }

    pub fn seal(key: &Aes256Gcm, buf: &mut Vec<u8>) {
        let tag = key
            .encrypt_in_place_detached(Nonce::from_slice(&super::NONCE), b"", buf)
            .unwrap();
        buf.extend_from_slice(&tag);
    }

    pub fn open(key: &Aes256Gcm, sealed: &mut [u8]) -> usize {
        let (body, tag) = sealed.split_at_mut(sealed.len() - 16);
        key.decrypt_in_place_detached(
            Nonce::from_slice(&super::NONCE),
            b"",
            body,
            Tag::from_slice(tag),
        )
        .unwrap();
        body.len()
    }
}

mod ring_impl {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    use ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey, X25519};
    use ring::hkdf;
    use ring::rand::SystemRandom;
    use ring::signature::{self, Ed25519KeyPair};

    pub fn x25519_keygen_agree(rng: &SystemRandom, peer: &[u8; 32]) -> [u8; 32] {
        let private = EphemeralPrivateKey::generate(&X25519, rng).unwrap();
        let _public = private.compute_public_key().unwrap();
        agreement::agree_ephemeral(private, &UnparsedPublicKey::new(&X25519, peer), |s| {
            <[u8; 32]>::try_from(s).unwrap()
        })
        .unwrap()
    }

    pub fn signer() -> Ed25519KeyPair {
        Ed25519KeyPair::from_seed_unchecked(&super::SEED).unwrap()
    }

    pub fn sign(pair: &Ed25519KeyPair, message: &[u8]) -> Vec<u8> {
        pair.sign(message).as_ref().to_vec()
    }

    pub fn verify(public: &[u8], message: &[u8], sig: &[u8]) -> bool {
        signature::UnparsedPublicKey::new(&signature::ED25519, public)
            .verify(message, sig)
            .is_ok()
    }

    pub fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; 32] {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
        let info = [info];
        let okm = prk.expand(&info, hkdf::HKDF_SHA256).unwrap();
        let mut out = [0u8; 32];
        okm.fill(&mut out).unwrap();
        out
    }

    pub fn aead() -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &super::KEY).unwrap())
    }

    pub fn seal(key: &LessSafeKey, buf: &mut Vec<u8>) {
        let nonce = Nonce::assume_unique_for_key(super::NONCE);
        let tag = key
            .seal_in_place_separate_tag(nonce, Aad::empty(), buf)
            .unwrap();
        buf.extend_from_slice(tag.as_ref());
    }

    pub fn open(key: &LessSafeKey, sealed: &mut [u8]) -> usize {
        let nonce = Nonce::assume_unique_for_key(super::NONCE);
        key.open_in_place(nonce, Aad::empty(), sealed)
            .unwrap()
            .len()
    }
}

/// The three libraries agree on every output, so the race is fair.
fn check_agreement() {
    let aws_sig = aws::sign(&aws::signer(), &PROOF);
    assert_eq!(aws_sig, rust_crypto::sign(&rust_crypto::signer(), &PROOF));
    assert_eq!(aws_sig, ring_impl::sign(&ring_impl::signer(), &PROOF));
    let public = aws::public(&aws::signer());
    assert!(rust_crypto::verify(&public, &PROOF, &aws_sig));
    assert!(ring_impl::verify(&public, &PROOF, &aws_sig));
    let okm = aws::hkdf(&SALT, &KEY, INFO);
    assert_eq!(okm, rust_crypto::hkdf(&SALT, &KEY, INFO));
    assert_eq!(okm, ring_impl::hkdf(&SALT, &KEY, INFO));
    let mut a = vec![1u8; 200];
    let mut b = a.clone();
    let mut c = a.clone();
    aws::seal(&aws::aead(), &mut a);
    rust_crypto::seal(&rust_crypto::aead(), &mut b);
    ring_impl::seal(&ring_impl::aead(), &mut c);
    assert_eq!(a, b);
    assert_eq!(a, c);
}

fn x25519(c: &mut Criterion) {
    check_agreement();
    let peer = aws::peer_public();
    let rng = ring::rand::SystemRandom::new();
    let mut group = c.benchmark_group("x25519 keygen + agree");
    group.bench_function("aws-lc-rs", |b| {
        b.iter(|| aws::x25519_keygen_agree(black_box(&peer)))
    });
    group.bench_function("dalek", |b| {
        b.iter(|| rust_crypto::x25519_keygen_agree(black_box(&peer)))
    });
    group.bench_function("ring", |b| {
        b.iter(|| ring_impl::x25519_keygen_agree(&rng, black_box(&peer)))
    });
    group.finish();
}

fn ed25519(c: &mut Criterion) {
    let (aws_key, dalek_key, ring_key) =
        (aws::signer(), rust_crypto::signer(), ring_impl::signer());
    let mut group = c.benchmark_group("ed25519 sign 128 B");
    group.bench_function("aws-lc-rs", |b| {
        b.iter(|| aws::sign(&aws_key, black_box(&PROOF)))
    });
    group.bench_function("dalek", |b| {
        b.iter(|| rust_crypto::sign(&dalek_key, black_box(&PROOF)))
    });
    group.bench_function("ring", |b| {
        b.iter(|| ring_impl::sign(&ring_key, black_box(&PROOF)))
    });
    group.finish();

    let public = aws::public(&aws_key);
    let sig = aws::sign(&aws_key, &PROOF);
    let mut group = c.benchmark_group("ed25519 verify 128 B");
    group.bench_function("aws-lc-rs", |b| {
        b.iter(|| assert!(aws::verify(&public, black_box(&PROOF), &sig)))
    });
    group.bench_function("dalek", |b| {
        b.iter(|| assert!(rust_crypto::verify(&public, black_box(&PROOF), &sig)))
    });
    group.bench_function("ring", |b| {
        b.iter(|| assert!(ring_impl::verify(&public, black_box(&PROOF), &sig)))
    });
    group.finish();
}

fn hkdf(c: &mut Criterion) {
    let mut group = c.benchmark_group("hkdf-sha256 32 B");
    group.bench_function("aws-lc-rs", |b| {
        b.iter(|| aws::hkdf(black_box(&SALT), &KEY, INFO))
    });
    group.bench_function("RustCrypto", |b| {
        b.iter(|| rust_crypto::hkdf(black_box(&SALT), &KEY, INFO))
    });
    group.bench_function("ring", |b| {
        b.iter(|| ring_impl::hkdf(black_box(&SALT), &KEY, INFO))
    });
    group.finish();
}

fn aes_gcm(c: &mut Criterion) {
    let (aws_key, rc_key, ring_key) = (aws::aead(), rust_crypto::aead(), ring_impl::aead());
    for (label, size) in SIZES {
        let plaintext = vec![0xa5u8; size];
        let mut sealed = plaintext.clone();
        aws::seal(&aws_key, &mut sealed);

        let mut group = c.benchmark_group(format!("aes-256-gcm seal {label}"));
        group.throughput(Throughput::Bytes(size as u64));
        let fresh = || {
            let mut buf = Vec::with_capacity(size + 16);
            buf.extend_from_slice(&plaintext);
            buf
        };
        group.bench_function(BenchmarkId::from_parameter("aws-lc-rs"), |b| {
            b.iter_batched_ref(fresh, |buf| aws::seal(&aws_key, buf), BatchSize::SmallInput)
        });
        group.bench_function(BenchmarkId::from_parameter("RustCrypto"), |b| {
            b.iter_batched_ref(
                fresh,
                |buf| rust_crypto::seal(&rc_key, buf),
                BatchSize::SmallInput,
            )
        });
        group.bench_function(BenchmarkId::from_parameter("ring"), |b| {
            b.iter_batched_ref(
                fresh,
                |buf| ring_impl::seal(&ring_key, buf),
                BatchSize::SmallInput,
            )
        });
        group.finish();

        let mut group = c.benchmark_group(format!("aes-256-gcm open {label}"));
        group.throughput(Throughput::Bytes(size as u64));
        let copy = || sealed.clone();
        group.bench_function(BenchmarkId::from_parameter("aws-lc-rs"), |b| {
            b.iter_batched_ref(copy, |buf| aws::open(&aws_key, buf), BatchSize::SmallInput)
        });
        group.bench_function(BenchmarkId::from_parameter("RustCrypto"), |b| {
            b.iter_batched_ref(
                copy,
                |buf| rust_crypto::open(&rc_key, buf),
                BatchSize::SmallInput,
            )
        });
        group.bench_function(BenchmarkId::from_parameter("ring"), |b| {
            b.iter_batched_ref(
                copy,
                |buf| ring_impl::open(&ring_key, buf),
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, x25519, ed25519, hkdf, aes_gcm);
criterion_main!(benches);
