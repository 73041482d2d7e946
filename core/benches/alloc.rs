//! Allocator benchmarks (placeholder until the real benchmark lands).
fn main() {}
