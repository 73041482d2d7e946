use ferrolb_api::ferrolb::v1alpha1::{BGPSessionStateSpec, BGPSessionStateStatus};

use super::*;

fn obj(node: &str, state: &str) -> BGPSessionState {
    let mut o = BGPSessionState::new("x", BGPSessionStateSpec::default());
    o.status = Some(BGPSessionStateStatus {
        node: Some(node.into()),
        bgp_status: Some(state.into()),
        ..Default::default()
    });
    o
}

#[test]
fn an_object_of_this_node_means_a_restart() {
    assert!(!restarted("n1", &[]), "no object: a first start");
    assert!(restarted("n1", &[obj("n1", "Established")]));
    assert!(
        restarted("n1", &[obj("n1", "Active")]),
        "killed before its Established was written"
    );
    assert!(
        !restarted("n1", &[obj("n2", "Established")]),
        "another node's"
    );
    let mut no_status = obj("n1", "Established");
    no_status.status = None;
    assert!(!restarted("n1", &[no_status]), "never written: no evidence");
}
