;; traps: one export per failure the runtime must report cleanly.
;; Used by the bad-input tests: each call fails with a typed error, the next call works.
(module
  (memory 1 1000)
  (func (export "ok") (result i32) (i32.const 42))
  (func (export "unreachable") (result i32) (unreachable))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "oob") (result i32) (i32.load (i32.const 0x7fffffff)))
  (func (export "spin") (result i32) (loop $l (br $l)) (i32.const 0))
  (func $recurse (export "recurse") (param i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  ;; Grows memory one page at a time until refused, then traps: a memory bomb.
  (func (export "grow_bomb") (result i32)
    (loop $l
      (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    (unreachable))
  ;; Grows until refused and returns the page count: a polite grower.
  (func (export "grow_all") (result i32)
    (loop $l
      (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    (memory.size))
  (func (export "multi") (param i64 f32) (result i64 f32 f64)
    (local.get 0) (local.get 1) (f64.const 2.5))
)
