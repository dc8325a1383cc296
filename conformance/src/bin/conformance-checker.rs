//! In-container checker binary (built statically by the runner).
fn main() {
    std::process::exit(conformance::checker::main());
}
