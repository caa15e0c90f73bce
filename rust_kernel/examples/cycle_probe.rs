//! Runs N full cycles through the native mock venue; for instruction-count profiling
//! (valgrind --tool=callgrind), which is stable on a loaded machine.
mod common;

use dita_kernel::mock::{MockConfig, MockVenue};
use dita_kernel::*;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let mut k = Kernel::new("probe", 10).unwrap();
    let mut v = MockVenue::new(MockConfig::default()).unwrap();
    for i in 0..n {
        for (action, px) in [
            (KernelCommandType::Enter, 100.0),
            (KernelCommandType::Exit, 101.0),
        ] {
            let it = common::intent(action.name(), i, 0, action, px);
            common::through_mock(&mut k, &mut v, &it, |_, _| {});
        }
    }
    println!("seq {}", k.seq());
}
