//! Community (`api/v1beta1/community_types.go` upstream): named aliases for BGP communities,
//! usable in BGPAdvertisement `communities`. Alias names are global across all Community objects.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::ConfigStatus;

/// Spec of a Community.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "Community",
    plural = "communities",
    namespaced,
    status = "ConfigStatus",
    derive = "PartialEq",
    doc = "Community is a collection of aliases for communities. Users can define named aliases to be used in the BGPPeer CRD."
)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct CommunitySpec {
    /// The aliases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<CommunityAlias>,
}

/// One alias: `name` stands for `value` (`A:B` or `large:X:Y:Z`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct CommunityAlias {
    /// The alias name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The community value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

crate::optional_spec!(CommunitySpec);
