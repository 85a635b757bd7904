// rust_ranges: range exports written in Rust (no_std), built for wasm32-unknown-unknown by
// Debian's rustc; each takes a range [start, end) of i64 items, as `scatter` cuts it.
#![no_std]

// A panic cannot happen in these loops (wrapping arithmetic, no indexing), but a no_std crate
// must name a handler; a trap is what a Wasm caller understands.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// Number of 1 bits in n's two's-complement form (i64.popcnt).
fn bits(n: i64) -> i64 {
    n.count_ones() as i64
}

/// Collatz steps from n down to 1 (0 for n <= 1). Wrapping arithmetic: an orbit leaving u64
/// would give a wrong count rather than a trap; orbits of starts near 2^32 peak far below
/// 2^64.
fn collatz(n: i64) -> i64 {
    let mut x = n as u64;
    let mut steps: i64 = 0;
    if n <= 1 {
        return 0;
    }
    while x != 1 {
        x = if x & 1 == 1 { x.wrapping_mul(3).wrapping_add(1) } else { x >> 1 };
        steps += 1;
    }
    steps
}

/// Total of the set bits of every item in [start, end): scatter with --reduce sum.
#[no_mangle]
pub extern "C" fn popcount_sum(start: i64, end: i64) -> i64 {
    let mut total: i64 = 0;
    let mut i = start;
    while i < end {
        total = total.wrapping_add(bits(i));
        i += 1;
    }
    total
}

/// Total of the Collatz steps of every item in [start, end): scatter with --reduce sum.
#[no_mangle]
pub extern "C" fn collatz_steps(start: i64, end: i64) -> i64 {
    let mut total: i64 = 0;
    let mut i = start;
    while i < end {
        total = total.wrapping_add(collatz(i));
        i += 1;
    }
    total
}

/// The longest Collatz orbit in [start, end): scatter with --reduce max.
#[no_mangle]
pub extern "C" fn collatz_longest(start: i64, end: i64) -> i64 {
    let mut longest: i64 = 0;
    let mut i = start;
    while i < end {
        let s = collatz(i);
        if s > longest {
            longest = s;
        }
        i += 1;
    }
    longest
}
