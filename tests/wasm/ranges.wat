;; ranges: range exports for the jobs end-to-end tests (tests/e2e/jobs_test.py).
;; first_hit has many hits (so "first" must pick the lowest whatever the cut); min_mix and
;; max_mix reduce exactly by min and max whatever the cut; trap_at traps inside one sub-range
;; only, so a scatter fails with a trap part way through.
(module
  ;; mix(i) = (i * 2654435761) mod 1000003, a scrambled value per item.
  (func $mix (param $i i32) (result i32)
    (i32.wrap_i64 (i64.rem_u (i64.mul (i64.extend_i32_u (local.get $i)) (i64.const 2654435761))
                             (i64.const 1000003))))
  (func (export "min_mix") (param $start i32) (param $end i32) (result i32)
    (local $i i32) (local $best i32) (local $m i32)
    (local.set $best (i32.const 0x7fffffff))
    (local.set $i (local.get $start))
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $i) (local.get $end)))
        (local.set $m (call $mix (local.get $i)))
        (if (i32.lt_s (local.get $m) (local.get $best)) (then (local.set $best (local.get $m))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $best))
  (func (export "max_mix") (param $start i32) (param $end i32) (result i32)
    (local $i i32) (local $best i32) (local $m i32)
    (local.set $best (i32.const -1))
    (local.set $i (local.get $start))
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $i) (local.get $end)))
        (local.set $m (call $mix (local.get $i)))
        (if (i32.gt_s (local.get $m) (local.get $best)) (then (local.set $best (local.get $m))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $best))
  ;; The first i in [start, end) with (i * 123) mod 99991 == 1, else 0. 99991 is prime, so
  ;; hits recur every 99991 items from i0 = 123^-1 mod 99991.
  (func (export "first_hit") (param $start i32) (param $end i32) (result i32)
    (local $i i32)
    (local.set $i (local.get $start))
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $i) (local.get $end)))
        (if (i64.eq (i64.rem_u (i64.mul (i64.extend_i32_u (local.get $i)) (i64.const 123))
                               (i64.const 99991))
                    (i64.const 1))
          (then (return (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 0))
  ;; end - start, but a trap (unreachable) when the sub-range holds item 77777.
  (func (export "trap_at") (param $start i32) (param $end i32) (result i32)
    (if (i32.and (i32.le_s (local.get $start) (i32.const 77777))
                 (i32.gt_s (local.get $end) (i32.const 77777)))
      (then (unreachable)))
    (i32.sub (local.get $end) (local.get $start)))
  ;; One parameter: not a range export.
  (func (export "one_arg") (param i32) (result i32) (local.get 0))
  ;; Two ranges, no result: not a range export either.
  (func (export "no_result") (param i32 i32))
)
