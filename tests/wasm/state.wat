;; state.wat: an instance's state (memory, data segments, globals, growth), to check that
;; every new instance starts pristine whatever an earlier one of the same module did.
(module
  (memory 1 4)
  (data (i32.const 16) "\2a\00\00\00")  ;; 42 at address 16
  (global $g (mut i32) (i32.const 5))
  ;; swap(addr, v): stores v at addr and returns what was there.
  (func (export "swap") (param i32 i32) (result i32)
    (local $old i32)
    (local.set $old (i32.load (local.get 0)))
    (i32.store (local.get 0) (local.get 1))
    (local.get $old))
  (func (export "grow") (result i32) (memory.grow (i32.const 1)))
  (func (export "pages") (result i32) (memory.size))
  (func (export "bump") (result i32)
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (global.get $g)))
