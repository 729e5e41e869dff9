;; Adam's elementwise update in WebAssembly SIMD, four float32 lanes at a time. adam-kernel.ts keeps Adam's
;; moments in this module's memory, copies each chunk of a parameter and its gradient in, calls a function
;; on them, and copies the parameter chunk back. Every operation rounds as optimizer.ts's loop does: a
;; float32 operation per JavaScript Math.fround, and a + b·c (PyTorch's fused multiply-add) as an exact
;; float64 product and a float64 sum, then float32.
;; Byte offsets are 16-aligned and counts are multiples of 4; the caller grows the memory to fit.
;; `npm run wasm` rebuilds adam-kernel-wasm.ts from this file.
(module
  (memory (export "memory") 1)

  ;; p, m, v updated in place from g, over n elements:
  ;;   m = m + w1·(g − m)                       (fused)
  ;;   v = v·b2 + (w2·g)·g
  ;;   p = p + (negStep·m) / (sqrt(v) / bc2 + eps)
  (func (export "adam") (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $n i32)
        (param $w1 f64) (param $b2 f32) (param $w2 f32) (param $eps f32) (param $negStep f32) (param $bc2 f32)
    (local $i i32) (local $end i32)
    (local $pv v128) (local $gv v128) (local $mv v128) (local $vv v128) (local $d v128) (local $lo v128) (local $hi v128)
    (local $W1 v128) (local $B2 v128) (local $W2 v128) (local $EPS v128) (local $NS v128) (local $BC2 v128)
    (local.set $W1 (f64x2.splat (local.get $w1)))
    (local.set $B2 (f32x4.splat (local.get $b2)))
    (local.set $W2 (f32x4.splat (local.get $w2)))
    (local.set $EPS (f32x4.splat (local.get $eps)))
    (local.set $NS (f32x4.splat (local.get $negStep)))
    (local.set $BC2 (f32x4.splat (local.get $bc2)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $pv (v128.load (i32.add (local.get $p) (local.get $i))))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $i))))
        (local.set $mv (v128.load (i32.add (local.get $m) (local.get $i))))
        (local.set $vv (v128.load (i32.add (local.get $v) (local.get $i))))
        ;; m: lanes 0-1 and 2-3 in float64
        (local.set $d (f32x4.sub (local.get $gv) (local.get $mv)))
        (local.set $lo (f64x2.add (f64x2.promote_low_f32x4 (local.get $mv))
                                  (f64x2.mul (f64x2.promote_low_f32x4 (local.get $d)) (local.get $W1))))
        (local.set $hi (f64x2.add (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $mv) (local.get $mv)))
                                  (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $d) (local.get $d)))
                                             (local.get $W1))))
        (local.set $mv (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                         (f32x4.demote_f64x2_zero (local.get $lo)) (f32x4.demote_f64x2_zero (local.get $hi))))
        (local.set $vv (f32x4.add (f32x4.mul (local.get $vv) (local.get $B2))
                                  (f32x4.mul (f32x4.mul (local.get $W2) (local.get $gv)) (local.get $gv))))
        (local.set $pv (f32x4.add (local.get $pv)
                         (f32x4.div (f32x4.mul (local.get $NS) (local.get $mv))
                                    (f32x4.add (f32x4.div (f32x4.sqrt (local.get $vv)) (local.get $BC2)) (local.get $EPS)))))
        (v128.store (i32.add (local.get $p) (local.get $i)) (local.get $pv))
        (v128.store (i32.add (local.get $m) (local.get $i)) (local.get $mv))
        (v128.store (i32.add (local.get $v) (local.get $i)) (local.get $vv))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; Adam's (coupled) weight decay: g = g + wd·p (fused), over n elements.
  (func (export "decayGradient") (param $g i32) (param $p i32) (param $n i32) (param $wd f64)
    (local $i i32) (local $end i32) (local $gv v128) (local $pv v128) (local $lo v128) (local $hi v128) (local $WD v128)
    (local.set $WD (f64x2.splat (local.get $wd)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $i))))
        (local.set $pv (v128.load (i32.add (local.get $p) (local.get $i))))
        (local.set $lo (f64x2.add (f64x2.promote_low_f32x4 (local.get $gv))
                                  (f64x2.mul (f64x2.promote_low_f32x4 (local.get $pv)) (local.get $WD))))
        (local.set $hi (f64x2.add (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $gv) (local.get $gv)))
                                  (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $pv) (local.get $pv)))
                                             (local.get $WD))))
        (v128.store (i32.add (local.get $g) (local.get $i))
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (local.get $lo)) (f32x4.demote_f64x2_zero (local.get $hi))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; AdamW's (decoupled) weight decay: p = p·c, over n elements.
  (func (export "scale") (param $p i32) (param $n i32) (param $c f32)
    (local $i i32) (local $end i32) (local $C v128)
    (local.set $C (f32x4.splat (local.get $c)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (v128.store (i32.add (local.get $p) (local.get $i))
          (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $i))) (local.get $C)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; 1 when all n values are finite, else 0. x·0 is 0 for a finite x and NaN otherwise, and a NaN stays in
  ;; the sum; NaN is the one value unequal to itself.
  (func (export "allFinite") (param $x i32) (param $n i32) (result i32)
    (local $i i32) (local $end i32) (local $sum v128) (local $zero v128)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $sum (f32x4.add (local.get $sum) (f32x4.mul (v128.load (i32.add (local.get $x) (local.get $i))) (local.get $zero))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next)))
    (i32x4.all_true (f32x4.eq (local.get $sum) (local.get $sum))))
)
