//! License keys: `XXXXX-XXXXX-XXXXX-XXXXX-XXXXX` (PROTOCOL.md section 6).

/// The characters of generated keys: no vowels (no words), no look-alikes
/// (0/O, 1/I/L, 5/S).
pub const ALPHABET: &[u8; 24] = b"BCDFGHJKMPQRTVWXY2346789";
/// Characters in a key, without dashes.
pub const KEY_CHARS: usize = 25;

/// Normalizes what a user typed: case, spaces and dashes do not matter. `None`
/// when it cannot be a key (wrong length or characters).
pub fn normalize(input: &str) -> Option<String> {
    let mut chars = Vec::with_capacity(KEY_CHARS);
    for c in input.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        if !c.is_ascii_alphanumeric() || chars.len() == KEY_CHARS {
            return None;
        }
        chars.push(c.to_ascii_uppercase());
    }
    if chars.len() != KEY_CHARS {
        return None;
    }
    let mut out = String::with_capacity(KEY_CHARS + 4);
    for (i, c) in chars.into_iter().enumerate() {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        out.push(c);
    }
    Some(out)
}

/// A new key from the system CSPRNG: 25 characters of [`ALPHABET`], about 114
/// bits. Rejection sampling keeps every character uniform.
pub fn generate() -> Result<String, aws_lc_rs::error::Unspecified> {
    let mut chars = Vec::with_capacity(KEY_CHARS);
    let mut buf = [0u8; 64];
    while chars.len() < KEY_CHARS {
        aws_lc_rs::rand::fill(&mut buf)?;
        // 240 = 10 * 24: bytes at or above it would bias the result.
        for b in buf.iter().filter(|b| **b < 240) {
            if chars.len() == KEY_CHARS {
                break;
            }
            chars.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
        }
    }
    Ok(normalize(&chars.into_iter().collect::<String>()).expect("25 alphabet characters"))
}

/// The last group of a normalized key, shown to operators instead of the key.
pub fn last_group(normalized: &str) -> &str {
    normalized.rsplit('-').next().unwrap_or(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_normalized_and_distinct() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(normalize(&a).as_deref(), Some(a.as_str()));
        assert!(a.replace('-', "").bytes().all(|c| ALPHABET.contains(&c)));
        assert_eq!(last_group(&a).len(), 5);
    }

    #[test]
    fn refuses_non_alphanumerics() {
        assert_eq!(normalize("WDGQX-WC2Y3-4R966-TK3H3-HXRB!"), None);
        assert_eq!(normalize("ЖDGQX-WC2Y3-4R966-TK3H3-HXRB8"), None);
    }
}
