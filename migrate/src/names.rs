//! Name normalisation of `configmaptocrs` (`convertNamesToK8S`/`formatToK8S` upstream).
//!
//! Pool names, BFD profile names and peers' `bfd-profile` references that do not match
//! `^[a-z][-a-z0-9]{0,61}[a-z0-9]{1}$` are truncated to 63 bytes, lower-cased, `_` becomes `-`,
//! and everything before the first `[a-z]` is dropped. A name without any letter cannot be
//! converted (`failed to make <Kind> K8S compatible: <name>`). Names that match are kept as is;
//! the result is not re-checked (MetalLB does not either), so `a.b` stays `a.b`.

/// Kind string MetalLB uses in the error for pools.
pub const KIND_POOL: &str = "IpAddressPool";
/// Kind string MetalLB uses in the error for BFD profiles.
pub const KIND_BFD: &str = "BFDProfile";

/// Whether `name` matches `^[a-z][-a-z0-9]{0,61}[a-z0-9]{1}$`.
pub fn is_k8s_name(name: &str) -> bool {
    let b = name.as_bytes();
    (2..=63).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && matches!(b[b.len() - 1], b'a'..=b'z' | b'0'..=b'9')
        && b.iter()
            .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

/// `formatToK8S`: the Kubernetes-compatible form of `name`, or `None` when it has no letter.
/// Names already compatible are returned unchanged.
pub fn to_k8s(name: &str) -> Option<String> {
    if is_k8s_name(name) {
        return Some(name.to_owned());
    }
    // Go slices at byte 63; keep whole characters.
    let mut end = name.len().min(63);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let lower = name[..end].to_lowercase().replace('_', "-");
    let first = lower.find(|c: char| c.is_ascii_lowercase())?;
    Some(lower[first..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_are_kept() {
        for n in ["default", "nginx-ip-range", "a1", "pool-0"] {
            assert!(is_k8s_name(n), "{n}");
            assert_eq!(to_k8s(n).as_deref(), Some(n));
        }
        // One letter does not match the regex but converts to itself.
        assert!(!is_k8s_name("a"));
        assert_eq!(to_k8s("a").as_deref(), Some("a"));
    }

    #[test]
    fn upstream_examples() {
        assert_eq!(
            to_k8s("01-numbered-addresspool").as_deref(),
            Some("numbered-addresspool")
        );
        assert_eq!(
            to_k8s("Capitalized-AddressPool").as_deref(),
            Some("capitalized-addresspool")
        );
        assert_eq!(
            to_k8s("underscored_bfd_profile").as_deref(),
            Some("underscored-bfd-profile")
        );
        assert_eq!(
            to_k8s("tooLongBFDProfileName01-tooLongBFDProfileName02-tooLongBFDProfileName03-tooLongBFDProfileName04")
                .as_deref(),
            Some("toolongbfdprofilename01-toolongbfdprofilename02-toolongbfdprofi")
        );
    }

    #[test]
    fn odd_names() {
        assert_eq!(to_k8s("1234"), None);
        assert_eq!(to_k8s("_-_"), None);
        assert_eq!(to_k8s("9_Pool_").as_deref(), Some("pool-"));
        assert_eq!(to_k8s("a.b").as_deref(), Some("a.b"));
        // Multi-byte characters never split.
        let long = format!("{}é", "a".repeat(62));
        assert_eq!(to_k8s(&long).as_deref(), Some("a".repeat(62).as_str()));
    }
}
