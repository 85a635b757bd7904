//! A VelumOS range module in Rust: copy this crate and change the functions.
//!
//! A range export is `#[no_mangle] pub extern "C" fn NAME(start, end) -> number` over the
//! items `[start, end)`, with `(i64, i64)` or `(i32, i32)` parameters, returning one `i64`,
//! `i32`, `f64` or `f32`. `scatter` cuts `[START, END)` into chunks, calls the export on each
//! chunk on some node and adds the results up (`--reduce sum`, the default). The answer is the
//! same however the range is cut only if a chunk's result depends on nothing but `start` and
//! `end`: no `static mut` state carried between calls, no clock, no randomness that is not a
//! function of the item.
//!
//! `no_std` keeps the module small and free of imports on both wasm32-unknown-unknown and
//! wasm32-wasi: `core` (integers, floats, iterators, slices) is all a range needs. Functions
//! that are not `#[no_mangle] pub extern "C"` are not exported.
#![no_std]

// A no_std crate names its own panic handler. With `panic = "abort"` a panic (an index out
// of bounds, an `unwrap` on None, ...) ends the call with a Wasm trap, which the caller sees
// as an error for that chunk.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// Sum of the decimal digits of `n` (of |n| for negative n).
fn digits(n: i64) -> i64 {
    let mut x = n.unsigned_abs();
    let mut sum = 0;
    while x != 0 {
        sum += (x % 10) as i64;
        x /= 10;
    }
    sum
}

/// The total of the decimal digits of every item in `[start, end)`: `(i64, i64) -> i64`.
/// `wrapping_add` states what happens past 2^63 (it wraps, as `scatter --reduce sum` adds
/// 64-bit results) instead of leaving it to the build profile.
#[no_mangle]
pub extern "C" fn digit_sum(start: i64, end: i64) -> i64 {
    let mut total: i64 = 0;
    let mut i = start;
    while i < end {
        total = total.wrapping_add(digits(i));
        i += 1;
    }
    total
}

/// How many items of `[start, end)` are multiples of 3 or of 5: `(i32, i32) -> i32`, the
/// narrow shape (ranges within i32).
#[no_mangle]
pub extern "C" fn count_multiples(start: i32, end: i32) -> i32 {
    (start..end).filter(|i| i % 3 == 0 || i % 5 == 0).count() as i32
}
