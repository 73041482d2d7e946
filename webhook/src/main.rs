//! `ferrolb-webhook`: serves MetalLB's admission and conversion webhook paths over TLS. A thin
//! wrapper around [`ferrolb_webhook::cli::main`]; the operator image runs the same code as
//! `ferrolb-operator webhook` (one binary, as MetalLB's controller hosts its webhooks). This
//! binary stays for development and the e2e suite.

fn main() -> anyhow::Result<()> {
    ferrolb_webhook::cli::main("ferrolb-webhook", std::env::args_os())?;
    Ok(())
}
