//! Arbitrary text as the `config` payload of MetalLB's legacy ConfigMap: the strict parser
//! (`ferrolb_api::legacy::parse`) and, for what parses, the migration to custom resources
//! (`ferrolb_migrate::convert` + `to_yaml`, what `ferrolb-migrate` runs). Asserted: no panic;
//! errors are typed and name a key path; a parsed configuration serialised back (as JSON, a
//! YAML subset) parses to the same configuration; the migration is deterministic (same YAML
//! twice) and every object it emits is a `metallb.io` object with a name, in the namespace.
#![no_main]

use ferrolb_api::legacy::{self, LegacyError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match legacy::parse(text) {
        Ok(c) => c,
        Err(LegacyError::Parse { path, .. }) => {
            assert!(!path.is_empty(), "error without a key path");
            return;
        }
    };
    let json = serde_json::to_string(&config).expect("a parsed config serialises");
    assert_eq!(
        legacy::parse(&json).as_ref(),
        Ok(&config),
        "round trip through {json}"
    );
    match ferrolb_migrate::convert(&config, "metallb-system") {
        Ok(converted) => {
            let yaml = ferrolb_migrate::to_yaml(&converted);
            assert_eq!(yaml, ferrolb_migrate::to_yaml(&converted));
            // Names are converted as `configmaptocrs` does and, like it, not re-checked
            // (`a.b` stays `a.b`, see `ferrolb_migrate::names`), so only their presence is a
            // property.
            for obj in converted.objects() {
                assert!(
                    obj["apiVersion"]
                        .as_str()
                        .is_some_and(|v| v.starts_with("metallb.io/"))
                );
                assert!(obj["kind"].is_string());
                assert!(
                    !obj["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .is_empty()
                );
                assert_eq!(obj["metadata"]["namespace"], "metallb-system");
            }
        }
        Err(e) => assert!(!e.path().is_empty() && !e.to_string().is_empty()),
    }
});
