;; kernels.wat — gradsync's WebAssembly SIMD128 kernels, float32 (f32x4) and float64 (f64x2):
;; the three GEMMs (with their packing), the vector passes (addInto, sgdUpdate, reduceGrad,
;; reduceSgd, firstNonFinite) and, in float32, tanh, exp, addBias, colSum, activateBackward and
;; activationStats. Hand-written text, assembled at build time by scripts/build-wasm.js (wabt).
;;
;; THE KERNEL SPEC (src/tensor/kernels.ts) holds here bit for bit: every GEMM output element starts
;; at +0 (with $acc set, at its value in C: gemmNTAcc) and accumulates its k terms in increasing k, one multiply then one add per term (an
;; f32x4.mul then an f32x4.add, never fused; Wasm has no fused multiply-add outside relaxed
;; SIMD), each rounded to the dtype. Vector lanes run over independent output columns j, so the
;; lane count never changes a result.
;;
;; One kernel per dtype computes C (m, n) = A' (m, k) · B' (k, n) on packed operands:
;;  - A' in blocks of 4 rows: A'(i, p) at a + (i / 4)·abs + p·acs + (i mod 4)·size, with
;;    abs = 4·k·size, acs = 4·size: packed by $pack_cols_* from row-major A (NN, NT) or by
;;    $pack_rows from column-major A (TN). (TN's A is packed rather than read in place, whose
;;    m·size stride maps a whole block into few L1 sets.)
;;  - B' in panels of NR columns (8 floats or 4 doubles = 32 bytes): B'(p, j) at
;;    b + (j / NR)·bps + p·32 + (j mod NR)·size, packed by $pack_rows (NN, TN) or, transposing,
;;    by $pack_cols_* (NT); bps = 32·k.
;;  - C dense row-major (m, n); with $acc the tiles start from C, read as whole vectors (lanes
;;    past n or rows past m read what lies there, which the caller keeps inside memory, and
;;    are never stored).
;; Register tile: 4 rows × 8 floats (f32) or 4 rows × 4 doubles (f64) = 8 accumulators, which
;; with 2 B vectors, a broadcast A value and a product fit V8's 16 xmm registers (larger tiles
;; or unrolling p spill them). The j loop is
;; outside the i loop so that one B panel (32·k bytes) stays in L1 while A' streams past it.
;;
;; Edges: rows past m and columns past n compute on whatever the block or panel holds there and
;; are never stored: such tiles go through the scratch tile at address 0 (128 bytes) and
;; memory.copy only what exists.
;; Not here: copying operands in and out, growing memory (src/tensor/fast/wasm.ts).

(module
  (memory (export "memory") 1)

  ;; C (m, n) = A' · B', float32, tile 4 × 8.
  (func (export "gemm_f32")
    (param $m i32) (param $n i32) (param $k i32)
    (param $a i32) (param $abs i32) (param $acs i32)
    (param $b i32) (param $bps i32) (param $c i32) (param $acc i32)
    (local $i i32) (local $j i32) (local $r i32) (local $rows i32) (local $cols i32)
    (local $pa i32) (local $pb i32) (local $pbEnd i32) (local $pc i32) (local $cs i32)
    (local $b0 v128) (local $b1 v128) (local $av v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $cs (i32.shl (local.get $n) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $jDone
      (loop $jLoop
        (br_if $jDone (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $i (i32.const 0))
        (block $iDone
          (loop $iLoop
            (br_if $iDone (i32.ge_u (local.get $i) (local.get $m)))
            (local.set $pa (i32.add (local.get $a) (i32.mul (i32.shr_u (local.get $i) (i32.const 2)) (local.get $abs))))
            (local.set $pb (i32.add (local.get $b) (i32.mul (i32.shr_u (local.get $j) (i32.const 3)) (local.get $bps))))
            (local.set $pbEnd (i32.add (local.get $pb) (i32.shl (local.get $k) (i32.const 5))))
            (if (local.get $acc)
              (then
                (local.set $pc (i32.add (local.get $c)
                  (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2))))
                (local.set $c00 (v128.load (local.get $pc))) (local.set $c01 (v128.load offset=16 (local.get $pc)))
                (local.set $pc (i32.add (local.get $pc) (local.get $cs)))
                (local.set $c10 (v128.load (local.get $pc))) (local.set $c11 (v128.load offset=16 (local.get $pc)))
                (local.set $pc (i32.add (local.get $pc) (local.get $cs)))
                (local.set $c20 (v128.load (local.get $pc))) (local.set $c21 (v128.load offset=16 (local.get $pc)))
                (local.set $pc (i32.add (local.get $pc) (local.get $cs)))
                (local.set $c30 (v128.load (local.get $pc))) (local.set $c31 (v128.load offset=16 (local.get $pc))))
              (else
                (local.set $c00 (v128.const i64x2 0 0)) (local.set $c01 (v128.const i64x2 0 0))
                (local.set $c10 (v128.const i64x2 0 0)) (local.set $c11 (v128.const i64x2 0 0))
                (local.set $c20 (v128.const i64x2 0 0)) (local.set $c21 (v128.const i64x2 0 0))
                (local.set $c30 (v128.const i64x2 0 0)) (local.set $c31 (v128.const i64x2 0 0))))
            ;; the k terms in increasing p: four broadcast A values against two B vectors
            (if (i32.ne (local.get $pb) (local.get $pbEnd))
              (then
                (loop $pLoop
                  (local.set $b0 (v128.load (local.get $pb)))
                  (local.set $b1 (v128.load offset=16 (local.get $pb)))
                  (local.set $av (v128.load32_splat (local.get $pa)))
                  (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $av) (local.get $b0))))
                  (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $av) (local.get $b1))))
                  (local.set $av (v128.load32_splat offset=4 (local.get $pa)))
                  (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $av) (local.get $b0))))
                  (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $av) (local.get $b1))))
                  (local.set $av (v128.load32_splat offset=8 (local.get $pa)))
                  (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $av) (local.get $b0))))
                  (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $av) (local.get $b1))))
                  (local.set $av (v128.load32_splat offset=12 (local.get $pa)))
                  (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $av) (local.get $b0))))
                  (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $av) (local.get $b1))))
                  (local.set $pa (i32.add (local.get $pa) (local.get $acs)))
                  (local.set $pb (i32.add (local.get $pb) (i32.const 32)))
                  (br_if $pLoop (i32.ne (local.get $pb) (local.get $pbEnd))))))
            (local.set $pc (i32.add (local.get $c)
              (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2))))
            (local.set $rows (i32.sub (local.get $m) (local.get $i)))
            (local.set $cols (i32.sub (local.get $n) (local.get $j)))
            (if (i32.and (i32.ge_u (local.get $rows) (i32.const 4)) (i32.ge_u (local.get $cols) (i32.const 8)))
              (then
                (v128.store (local.get $pc) (local.get $c00))
                (v128.store offset=16 (local.get $pc) (local.get $c01))
                (local.set $pc (i32.add (local.get $pc) (local.get $cs)))
                (v128.store (local.get $pc) (local.get $c10))
                (v128.store offset=16 (local.get $pc) (local.get $c11))
                (local.set $pc (i32.add (local.get $pc) (local.get $cs)))
                (v128.store (local.get $pc) (local.get $c20))
                (v128.store offset=16 (local.get $pc) (local.get $c21))
                (local.set $pc (i32.add (local.get $pc) (local.get $cs)))
                (v128.store (local.get $pc) (local.get $c30))
                (v128.store offset=16 (local.get $pc) (local.get $c31)))
              (else
                ;; a ragged tile: through the scratch tile, only the rows and columns that exist
                (v128.store (i32.const 0) (local.get $c00)) (v128.store (i32.const 16) (local.get $c01))
                (v128.store (i32.const 32) (local.get $c10)) (v128.store (i32.const 48) (local.get $c11))
                (v128.store (i32.const 64) (local.get $c20)) (v128.store (i32.const 80) (local.get $c21))
                (v128.store (i32.const 96) (local.get $c30)) (v128.store (i32.const 112) (local.get $c31))
                (if (i32.gt_u (local.get $rows) (i32.const 4)) (then (local.set $rows (i32.const 4))))
                (if (i32.gt_u (local.get $cols) (i32.const 8)) (then (local.set $cols (i32.const 8))))
                (local.set $r (i32.const 0))
                (loop $rLoop
                  (memory.copy (local.get $pc) (i32.shl (local.get $r) (i32.const 5))
                    (i32.shl (local.get $cols) (i32.const 2)))
                  (local.set $pc (i32.add (local.get $pc) (local.get $cs)))
                  (local.set $r (i32.add (local.get $r) (i32.const 1)))
                  (br_if $rLoop (i32.lt_u (local.get $r) (local.get $rows))))))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $iLoop)))
        (local.set $j (i32.add (local.get $j) (i32.const 8)))
        (br $jLoop))))

  ;; C (m, n) = A' · B', float64, tile 4 × 4.
  (func (export "gemm_f64")
    (param $m i32) (param $n i32) (param $k i32)
    (param $a i32) (param $abs i32) (param $acs i32)
    (param $b i32) (param $bps i32) (param $c i32) (param $acc i32)
    (local $i i32) (local $j i32) (local $r i32) (local $rows i32) (local $cols i32)
    (local $pa i32) (local $pb i32) (local $pbEnd i32) (local $pc i32) (local $cs i32)
    (local $b0 v128) (local $b1 v128) (local $av v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $cs (i32.shl (local.get $n) (i32.const 3)))
    (local.set $j (i32.const 0))
    (block $jDone
      (loop $jLoop
        (br_if $jDone (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $i (i32.const 0))
        (block $iDone
          (loop $iLoop
            (br_if $iDone (i32.ge_u (local.get $i) (local.get $m)))
            (local.set $pa (i32.add (local.get $a) (i32.mul (i32.shr_u (local.get $i) (i32.const 2)) (local.get $abs))))
            (local.set $pb (i32.add (local.get $b) (i32.mul (i32.shr_u (local.get $j) (i32.const 2)) (local.get $bps))))
            (local.set $pbEnd (i32.add (local.get $pb) (i32.shl (local.get $k) (i32.const 5))))
            (if (local.get $acc)
              (then
                (local.set $pc (i32.add (local.get $c)
                  (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 3))))
                (local.set $c00 (v128.load (local.get $pc))) (local.set $c01 (v128.load offset=16 (local.get $pc)))
                (local.set $pc (i32.add (local.get $pc) (local.get $cs)))
                (local.set $c10 (v128.load (local.get $pc))) (local.set $c11 (v128.load offset=16 (local.get $pc)))
                (local.set $pc (i32.add (local.get $pc) (local.get $cs)))
                (local.set $c20 (v128.load (local.get $pc))) (local.set $c21 (v128.load offset=16 (local.get $pc)))
                (local.set $pc (i32.add (local.get $pc) (local.get $cs)))
                (local.set $c30 (v128.load (local.get $pc))) (local.set $c31 (v128.load offset=16 (local.get $pc))))
              (else
                (local.set $c00 (v128.const i64x2 0 0)) (local.set $c01 (v128.const i64x2 0 0))
                (local.set $c10 (v128.const i64x2 0 0)) (local.set $c11 (v128.const i64x2 0 0))
                (local.set $c20 (v128.const i64x2 0 0)) (local.set $c21 (v128.const i64x2 0 0))
                (local.set $c30 (v128.const i64x2 0 0)) (local.set $c31 (v128.const i64x2 0 0))))
            ;; the k terms in increasing p: four broadcast A values against two B vectors
            (if (i32.ne (local.get $pb) (local.get $pbEnd))
              (then
                (loop $pLoop
                  (local.set $b0 (v128.load (local.get $pb)))
                  (local.set $b1 (v128.load offset=16 (local.get $pb)))
                  (local.set $av (v128.load64_splat (local.get $pa)))
                  (local.set $c00 (f64x2.add (local.get $c00) (f64x2.mul (local.get $av) (local.get $b0))))
                  (local.set $c01 (f64x2.add (local.get $c01) (f64x2.mul (local.get $av) (local.get $b1))))
                  (local.set $av (v128.load64_splat offset=8 (local.get $pa)))
                  (local.set $c10 (f64x2.add (local.get $c10) (f64x2.mul (local.get $av) (local.get $b0))))
                  (local.set $c11 (f64x2.add (local.get $c11) (f64x2.mul (local.get $av) (local.get $b1))))
                  (local.set $av (v128.load64_splat offset=16 (local.get $pa)))
                  (local.set $c20 (f64x2.add (local.get $c20) (f64x2.mul (local.get $av) (local.get $b0))))
                  (local.set $c21 (f64x2.add (local.get $c21) (f64x2.mul (local.get $av) (local.get $b1))))
                  (local.set $av (v128.load64_splat offset=24 (local.get $pa)))
                  (local.set $c30 (f64x2.add (local.get $c30) (f64x2.mul (local.get $av) (local.get $b0))))
                  (local.set $c31 (f64x2.add (local.get $c31) (f64x2.mul (local.get $av) (local.get $b1))))
                  (local.set $pa (i32.add (local.get $pa) (local.get $acs)))
                  (local.set $pb (i32.add (local.get $pb) (i32.const 32)))
                  (br_if $pLoop (i32.ne (local.get $pb) (local.get $pbEnd))))))
            (local.set $pc (i32.add (local.get $c)
              (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 3))))
            (local.set $rows (i32.sub (local.get $m) (local.get $i)))
            (local.set $cols (i32.sub (local.get $n) (local.get $j)))
            (if (i32.and (i32.ge_u (local.get $rows) (i32.const 4)) (i32.ge_u (local.get $cols) (i32.const 4)))
              (then
                (v128.store (local.get $pc) (local.get $c00))
                (v128.store offset=16 (local.get $pc) (local.get $c01))
                (local.set $pc (i32.add (local.get $pc) (local.get $cs)))
                (v128.store (local.get $pc) (local.get $c10))
                (v128.store offset=16 (local.get $pc) (local.get $c11))
                (local.set $pc (i32.add (local.get $pc) (local.get $cs)))
                (v128.store (local.get $pc) (local.get $c20))
                (v128.store offset=16 (local.get $pc) (local.get $c21))
                (local.set $pc (i32.add (local.get $pc) (local.get $cs)))
                (v128.store (local.get $pc) (local.get $c30))
                (v128.store offset=16 (local.get $pc) (local.get $c31)))
              (else
                ;; a ragged tile: through the scratch tile, only the rows and columns that exist
                (v128.store (i32.const 0) (local.get $c00)) (v128.store (i32.const 16) (local.get $c01))
                (v128.store (i32.const 32) (local.get $c10)) (v128.store (i32.const 48) (local.get $c11))
                (v128.store (i32.const 64) (local.get $c20)) (v128.store (i32.const 80) (local.get $c21))
                (v128.store (i32.const 96) (local.get $c30)) (v128.store (i32.const 112) (local.get $c31))
                (if (i32.gt_u (local.get $rows) (i32.const 4)) (then (local.set $rows (i32.const 4))))
                (if (i32.gt_u (local.get $cols) (i32.const 4)) (then (local.set $cols (i32.const 4))))
                (local.set $r (i32.const 0))
                (loop $rLoop
                  (memory.copy (local.get $pc) (i32.shl (local.get $r) (i32.const 5))
                    (i32.shl (local.get $cols) (i32.const 3)))
                  (local.set $pc (i32.add (local.get $pc) (local.get $cs)))
                  (local.set $r (i32.add (local.get $r) (i32.const 1)))
                  (br_if $rLoop (i32.lt_u (local.get $r) (local.get $rows))))))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $iLoop)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $jLoop))))

  ;; ---- packing: a panel holds a few columns of all k rows, one short row per p, contiguous,
  ;; so the kernel reads it sequentially. Lanes past the edge are left as they are: never stored.

  ;; From row-major X (k, ·) whose rows are rowBytes long, into panels with rows of 2^lgpw bytes
  ;; (16 or 32): the B of NN and TN (32: 8 floats or 4 doubles), the A of TN in blocks of 4 rows
  ;; (16 for floats, 32 for doubles). Any element size.
  (func (export "pack_rows")
    (param $k i32) (param $rowBytes i32) (param $src i32) (param $dst i32) (param $lgpw i32)
    (local $q i32) (local $p i32) (local $ps i32) (local $pd i32) (local $w i32) (local $pw i32)
    (local.set $pw (i32.shl (i32.const 1) (local.get $lgpw)))
    (local.set $q (i32.const 0))
    (block $qDone
      (loop $qLoop
        (br_if $qDone (i32.ge_u (local.get $q) (local.get $rowBytes)))
        (local.set $w (i32.sub (local.get $rowBytes) (local.get $q)))
        (local.set $ps (i32.add (local.get $src) (local.get $q)))
        (local.set $pd (i32.add (local.get $dst) (i32.mul (i32.shr_u (local.get $q) (local.get $lgpw))
          (i32.shl (local.get $k) (local.get $lgpw)))))
        (local.set $p (i32.const 0))
        (if (i32.ge_u (local.get $w) (local.get $pw))
          (then
            (block $pDone
              (loop $pLoop
                (br_if $pDone (i32.ge_u (local.get $p) (local.get $k)))
                (v128.store (local.get $pd) (v128.load (local.get $ps)))
                (if (i32.eq (local.get $pw) (i32.const 32))
                  (then (v128.store offset=16 (local.get $pd) (v128.load offset=16 (local.get $ps)))))
                (local.set $ps (i32.add (local.get $ps) (local.get $rowBytes)))
                (local.set $pd (i32.add (local.get $pd) (local.get $pw)))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $pLoop))))
          (else
            (block $pDone
              (loop $pLoop
                (br_if $pDone (i32.ge_u (local.get $p) (local.get $k)))
                (memory.copy (local.get $pd) (local.get $ps) (local.get $w))
                (local.set $ps (i32.add (local.get $ps) (local.get $rowBytes)))
                (local.set $pd (i32.add (local.get $pd) (local.get $pw)))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $pLoop)))))
        (local.set $q (i32.add (local.get $q) (local.get $pw)))
        (br $qLoop))))

  ;; From row-major X (rows, k) of 4-byte elements, read as Xᵀ (k, rows), into panels of
  ;; 2^lgw rows: the B of NT (lgw = 3), or the A of NN and NT in blocks of 4 rows (lgw = 2).
  (func (export "pack_cols_32")
    (param $rows i32) (param $k i32) (param $src i32) (param $dst i32) (param $lgw i32)
    (local $j i32) (local $p i32) (local $pd i32) (local $row i32) (local $ks i32)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $row (i32.shl (i32.const 1) (i32.add (local.get $lgw) (i32.const 2))))
    (local.set $ks (i32.shl (local.get $k) (i32.const 2)))
    ;; four rows at a time (they share a panel: 2^lgw ≥ 4), in 4 × 4 blocks transposed in registers
    (local.set $j (i32.const 0))
    (block $vDone
      (loop $vLoop
        (br_if $vDone (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $rows)))
        (local.set $pd (i32.add (local.get $dst)
          (i32.add (i32.mul (i32.shr_u (local.get $j) (local.get $lgw)) (i32.mul (local.get $k) (local.get $row)))
            (i32.shl (i32.and (local.get $j) (i32.sub (i32.shl (i32.const 1) (local.get $lgw)) (i32.const 1))) (i32.const 2)))))
        (local.set $p (i32.const 0))
        (block $qDone
          (loop $qLoop
            (br_if $qDone (i32.gt_u (i32.add (local.get $p) (i32.const 4)) (local.get $k)))
            (local.set $r0 (v128.load (local.get $src)))
            (local.set $r1 (v128.load (i32.add (local.get $src) (local.get $ks))))
            (local.set $r2 (v128.load (i32.add (local.get $src) (i32.shl (local.get $ks) (i32.const 1)))))
            (local.set $r3 (v128.load (i32.add (local.get $src) (i32.mul (local.get $ks) (i32.const 3)))))
            (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r0) (local.get $r1)))
            (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r0) (local.get $r1)))
            (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r2) (local.get $r3)))
            (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r2) (local.get $r3)))
            (v128.store (local.get $pd) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
            (local.set $pd (i32.add (local.get $pd) (local.get $row)))
            (v128.store (local.get $pd) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
            (local.set $pd (i32.add (local.get $pd) (local.get $row)))
            (v128.store (local.get $pd) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
            (local.set $pd (i32.add (local.get $pd) (local.get $row)))
            (v128.store (local.get $pd) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
            (local.set $pd (i32.add (local.get $pd) (local.get $row)))
            (local.set $src (i32.add (local.get $src) (i32.const 16)))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (br $qLoop)))
        ;; the last k mod 4 columns of these four rows, one by one
        (block $sDone
          (loop $sLoop
            (br_if $sDone (i32.ge_u (local.get $p) (local.get $k)))
            (i32.store (local.get $pd) (i32.load (local.get $src)))
            (i32.store offset=4 (local.get $pd) (i32.load (i32.add (local.get $src) (local.get $ks))))
            (i32.store offset=8 (local.get $pd) (i32.load (i32.add (local.get $src) (i32.shl (local.get $ks) (i32.const 1)))))
            (i32.store offset=12 (local.get $pd) (i32.load (i32.add (local.get $src) (i32.mul (local.get $ks) (i32.const 3)))))
            (local.set $src (i32.add (local.get $src) (i32.const 4)))
            (local.set $pd (i32.add (local.get $pd) (local.get $row)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $sLoop)))
        ;; src has crossed row j; skip the other three rows just packed
        (local.set $src (i32.add (local.get $src) (i32.mul (local.get $ks) (i32.const 3))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $vLoop)))
    ;; the last rows mod 4, one element at a time
    (block $jDone
      (loop $jLoop
        (br_if $jDone (i32.ge_u (local.get $j) (local.get $rows)))
        (local.set $pd (i32.add (local.get $dst)
          (i32.add (i32.mul (i32.shr_u (local.get $j) (local.get $lgw)) (i32.mul (local.get $k) (local.get $row)))
            (i32.shl (i32.and (local.get $j) (i32.sub (i32.shl (i32.const 1) (local.get $lgw)) (i32.const 1))) (i32.const 2)))))
        (local.set $p (i32.const 0))
        (block $pDone
          (loop $pLoop
            (br_if $pDone (i32.ge_u (local.get $p) (local.get $k)))
            (i32.store (local.get $pd) (i32.load (local.get $src)))
            (local.set $src (i32.add (local.get $src) (i32.const 4)))
            (local.set $pd (i32.add (local.get $pd) (local.get $row)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $pLoop)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jLoop))))

  ;; From row-major X (rows, k) of 8-byte elements, read as Xᵀ (k, rows), into panels of
  ;; 2^lgw rows: the B of NT (lgw = 2), or the A of NN and NT in blocks of 4 rows (lgw = 2).
  (func (export "pack_cols_64")
    (param $rows i32) (param $k i32) (param $src i32) (param $dst i32) (param $lgw i32)
    (local $j i32) (local $p i32) (local $pd i32) (local $row i32)
    (local.set $row (i32.shl (i32.const 1) (i32.add (local.get $lgw) (i32.const 3))))
    (local.set $j (i32.const 0))
    (block $jDone
      (loop $jLoop
        (br_if $jDone (i32.ge_u (local.get $j) (local.get $rows)))
        (local.set $pd (i32.add (local.get $dst)
          (i32.add (i32.mul (i32.shr_u (local.get $j) (local.get $lgw)) (i32.mul (local.get $k) (local.get $row)))
            (i32.shl (i32.and (local.get $j) (i32.sub (i32.shl (i32.const 1) (local.get $lgw)) (i32.const 1))) (i32.const 3)))))
        (local.set $p (i32.const 0))
        (block $pDone
          (loop $pLoop
            (br_if $pDone (i32.ge_u (local.get $p) (local.get $k)))
            (i64.store (local.get $pd) (i64.load (local.get $src)))
            (local.set $src (i32.add (local.get $src) (i32.const 8)))
            (local.set $pd (i32.add (local.get $pd) (local.get $row)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $pLoop)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jLoop))))

  ;; ---- element-wise ------------------------------------------------------------------------

  ;; dst = tanh(src) over n floats: spec-math.ts tanh32, operation for operation, four lanes at a
  ;; time. Both of its branches (and the saturation) are computed for every lane and each lane
  ;; selects its own; lanes of the branch not taken may hold anything, never a trap. The caller
  ;; leaves room for a whole last vector at both ends.
  (func (export "tanh_f32") (param $n i32) (param $src i32) (param $dst i32)
    (local $end i32) (local $x v128) (local $neg v128) (local $ax v128) (local $u v128)
    (local $p v128) (local $em1 v128) (local $q v128) (local $kf v128) (local $r v128)
    (local $e v128) (local $t v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (if (i32.lt_u (local.get $src) (local.get $end))
      (then
        (loop $lanes
          (local.set $x (v128.load (local.get $src)))
          ;; ax = x < 0 ? −x : x, so that −0 stays −0 as in the reference
          (local.set $neg (f32x4.lt (local.get $x) (v128.const f32x4 0 0 0 0)))
          (local.set $ax (v128.bitselect (f32x4.neg (local.get $x)) (local.get $x) (local.get $neg)))
          (local.set $u (f32x4.mul (v128.const f32x4 2 2 2 2) (local.get $ax)))
          ;; |x| < 0.5: em1 = expm1Small32(u), Horner from 1/11! down to 1/1!, then em1/(em1 + 2)
          (local.set $p (v128.const f32x4 0x1.ae6456p-26 0x1.ae6456p-26 0x1.ae6456p-26 0x1.ae6456p-26))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $u)) (v128.const f32x4 0x1.27e4fcp-22 0x1.27e4fcp-22 0x1.27e4fcp-22 0x1.27e4fcp-22)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $u)) (v128.const f32x4 0x1.71de3ap-19 0x1.71de3ap-19 0x1.71de3ap-19 0x1.71de3ap-19)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $u)) (v128.const f32x4 0x1.a01a02p-16 0x1.a01a02p-16 0x1.a01a02p-16 0x1.a01a02p-16)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $u)) (v128.const f32x4 0x1.a01a02p-13 0x1.a01a02p-13 0x1.a01a02p-13 0x1.a01a02p-13)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $u)) (v128.const f32x4 0x1.6c16c2p-10 0x1.6c16c2p-10 0x1.6c16c2p-10 0x1.6c16c2p-10)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $u)) (v128.const f32x4 0x1.111112p-7 0x1.111112p-7 0x1.111112p-7 0x1.111112p-7)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $u)) (v128.const f32x4 0x1.555556p-5 0x1.555556p-5 0x1.555556p-5 0x1.555556p-5)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $u)) (v128.const f32x4 0x1.555556p-3 0x1.555556p-3 0x1.555556p-3 0x1.555556p-3)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $u)) (v128.const f32x4 0.5 0.5 0.5 0.5)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $u)) (v128.const f32x4 1 1 1 1)))
          (local.set $em1 (f32x4.mul (local.get $p) (local.get $u)))
          (local.set $t (f32x4.div (local.get $em1) (f32x4.add (local.get $em1) (v128.const f32x4 2 2 2 2))))
          ;; |x| ≥ 0.5: e = exp32(u); k = Math.round(u·(1/ln 2)), which breaks ties upwards where
          ;; f32x4.nearest goes to even: a tie taken down (q − k = 0.5) is moved up
          (local.set $q (f32x4.mul (local.get $u) (v128.const f32x4 0x1.715476p0 0x1.715476p0 0x1.715476p0 0x1.715476p0)))
          (local.set $kf (f32x4.nearest (local.get $q)))
          (local.set $kf (f32x4.add (local.get $kf)
            (v128.and (f32x4.eq (f32x4.sub (local.get $q) (local.get $kf)) (v128.const f32x4 0.5 0.5 0.5 0.5))
              (v128.const f32x4 1 1 1 1))))
          ;; r = (u − k·C1) − k·C2 (Cody–Waite, cephes expf constants)
          (local.set $r (f32x4.sub
            (f32x4.sub (local.get $u) (f32x4.mul (local.get $kf) (v128.const f32x4 0x1.63p-1 0x1.63p-1 0x1.63p-1 0x1.63p-1)))
            (f32x4.mul (local.get $kf) (v128.const f32x4 -0x1.bd0106p-13 -0x1.bd0106p-13 -0x1.bd0106p-13 -0x1.bd0106p-13))))
          ;; e^r: Horner from 1/7! down to 1/0!
          (local.set $p (v128.const f32x4 0x1.a01a02p-13 0x1.a01a02p-13 0x1.a01a02p-13 0x1.a01a02p-13))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0x1.6c16c2p-10 0x1.6c16c2p-10 0x1.6c16c2p-10 0x1.6c16c2p-10)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0x1.111112p-7 0x1.111112p-7 0x1.111112p-7 0x1.111112p-7)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0x1.555556p-5 0x1.555556p-5 0x1.555556p-5 0x1.555556p-5)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0x1.555556p-3 0x1.555556p-3 0x1.555556p-3 0x1.555556p-3)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0.5 0.5 0.5 0.5)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1 1 1 1)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1 1 1 1)))
          ;; e = p·2^k (exact: u ∈ [1, 18.2] gives k ∈ [1, 27]), 2^k built from its exponent bits
          (local.set $e (f32x4.mul (local.get $p)
            (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $kf)) (v128.const i32x4 127 127 127 127)) (i32.const 23))))
          ;; t = |x| < 0.5 ? em1/(em1 + 2) : 1 − 2/(e + 1); 1 past 9.1 (the float32 below 9.1 is 9.0999994)
          (local.set $t (v128.bitselect (local.get $t)
            (f32x4.sub (v128.const f32x4 1 1 1 1)
              (f32x4.div (v128.const f32x4 2 2 2 2) (f32x4.add (local.get $e) (v128.const f32x4 1 1 1 1))))
            (f32x4.lt (local.get $ax) (v128.const f32x4 0.5 0.5 0.5 0.5))))
          (local.set $t (v128.bitselect (v128.const f32x4 1 1 1 1) (local.get $t)
            (f32x4.gt (local.get $ax) (v128.const f32x4 0x1.233332p3 0x1.233332p3 0x1.233332p3 0x1.233332p3))))
          (v128.store (local.get $dst) (v128.bitselect (f32x4.neg (local.get $t)) (local.get $t) (local.get $neg)))
          (local.set $src (i32.add (local.get $src) (i32.const 16)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
          (br_if $lanes (i32.lt_u (local.get $src) (local.get $end)))))))

  ;; dst = exp32(src) over n floats: spec-math.ts's exp32 operation for operation, as native
  ;; exp32v computes it. NaN gives the quiet NaN 0x7fc00000; above 88.72283 +∞, below
  ;; −103.97208 +0; else k = Math.round(x·(1/ln 2)) (ties upwards, over f32x4.nearest),
  ;; r = (x − k·C1) − k·C2, e^r by Horner from 1/7!, and p·2^k rounded once: for k < −126 as
  ;; (p·2^(k+30))·2^−30 (the first product exact), for k = 128 as (p·2^127)·2 (2^128 is no
  ;; float). Checked equal to exp32 on all 2^32 inputs (a throwaway script).
  (func (export "exp_f32") (param $n i32) (param $src i32) (param $dst i32)
    (local $end i32) (local $x v128) (local $q v128) (local $kf v128) (local $r v128) (local $p v128)
    (local $lo v128) (local $hi v128) (local $ka v128) (local $m2 v128) (local $e v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (if (i32.lt_u (local.get $src) (local.get $end))
      (then
        (loop $lanes
          (local.set $x (v128.load (local.get $src)))
          (local.set $q (f32x4.mul (local.get $x) (v128.const f32x4 0x1.715476p0 0x1.715476p0 0x1.715476p0 0x1.715476p0)))
          (local.set $kf (f32x4.nearest (local.get $q)))
          (local.set $kf (f32x4.add (local.get $kf)
            (v128.and (f32x4.eq (f32x4.sub (local.get $q) (local.get $kf)) (v128.const f32x4 0.5 0.5 0.5 0.5)) (v128.const f32x4 1 1 1 1))))
          (local.set $r (f32x4.sub
            (f32x4.sub (local.get $x) (f32x4.mul (local.get $kf) (v128.const f32x4 0x1.63p-1 0x1.63p-1 0x1.63p-1 0x1.63p-1)))
            (f32x4.mul (local.get $kf) (v128.const f32x4 -0x1.bd0106p-13 -0x1.bd0106p-13 -0x1.bd0106p-13 -0x1.bd0106p-13))))
          (local.set $p (v128.const f32x4 0x1.a01a02p-13 0x1.a01a02p-13 0x1.a01a02p-13 0x1.a01a02p-13))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0x1.6c16c2p-10 0x1.6c16c2p-10 0x1.6c16c2p-10 0x1.6c16c2p-10)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0x1.111112p-7 0x1.111112p-7 0x1.111112p-7 0x1.111112p-7)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0x1.555556p-5 0x1.555556p-5 0x1.555556p-5 0x1.555556p-5)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0x1.555556p-3 0x1.555556p-3 0x1.555556p-3 0x1.555556p-3)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0.5 0.5 0.5 0.5)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1 1 1 1)))
          (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1 1 1 1)))
          ;; the exponent: k + 30 below −126, k − 1 above 127, kept in [−126, 127] on every lane
          (local.set $lo (f32x4.lt (local.get $kf) (v128.const f32x4 -126 -126 -126 -126)))
          (local.set $hi (f32x4.gt (local.get $kf) (v128.const f32x4 127 127 127 127)))
          (local.set $ka (v128.bitselect (f32x4.add (local.get $kf) (v128.const f32x4 30 30 30 30))
            (v128.bitselect (f32x4.sub (local.get $kf) (v128.const f32x4 1 1 1 1)) (local.get $kf) (local.get $hi)) (local.get $lo)))
          (local.set $ka (v128.and (local.get $ka)
            (v128.and (f32x4.ge (local.get $ka) (v128.const f32x4 -126 -126 -126 -126)) (f32x4.le (local.get $ka) (v128.const f32x4 127 127 127 127)))))
          (local.set $m2 (v128.bitselect (v128.const f32x4 0x1p-30 0x1p-30 0x1p-30 0x1p-30) (v128.bitselect (v128.const f32x4 2 2 2 2) (v128.const f32x4 1 1 1 1) (local.get $hi)) (local.get $lo)))
          (local.set $e (f32x4.mul (f32x4.mul (local.get $p)
            (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $ka)) (v128.const i32x4 127 127 127 127)) (i32.const 23)))
            (local.get $m2)))
          (local.set $e (v128.andnot (local.get $e) (f32x4.lt (local.get $x) (v128.const f32x4 -0x1.9fe368p6 -0x1.9fe368p6 -0x1.9fe368p6 -0x1.9fe368p6))))
          (local.set $e (v128.bitselect (v128.const f32x4 inf inf inf inf) (local.get $e) (f32x4.gt (local.get $x) (v128.const f32x4 0x1.62e42ep6 0x1.62e42ep6 0x1.62e42ep6 0x1.62e42ep6))))
          ;; NaN in, the one quiet NaN out (as spec-math's NaN literal, and native exp32v)
          (local.set $e (v128.bitselect (v128.const i32x4 0x7fc00000 0x7fc00000 0x7fc00000 0x7fc00000) (local.get $e) (f32x4.ne (local.get $x) (local.get $x))))
          (v128.store (local.get $dst) (local.get $e))
          (local.set $src (i32.add (local.get $src) (i32.const 16)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
          (br_if $lanes (i32.lt_u (local.get $src) (local.get $end)))))))

  ;; ---- the rest of a leaf's float32 passes (kernels.ts), each the reference's operations on
  ;; independent elements or columns, so four lanes at a time give the same bits. The caller
  ;; leaves room for a whole last vector after each operand; lanes past the data are never
  ;; copied out (or, for counts, never counted).

  ;; The index of the first non-finite element (x − x ≠ 0: NaN, ±∞) among n floats, or −1.
  (func (export "first_non_finite_f32") (param $n i32) (param $src i32) (result i32)
    (local $i i32) (local $n8 i32) (local $v v128) (local $w v128) (local $x f32)
    (local.set $n8 (i32.and (local.get $n) (i32.const -8)))
    (block $hit
      (loop $vec
        (br_if $hit (i32.ge_u (local.get $i) (local.get $n8)))
        (local.set $v (v128.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $w (v128.load offset=16 (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))
        (br_if $hit (v128.any_true (v128.or
          (f32x4.ne (f32x4.sub (local.get $v) (local.get $v)) (v128.const f32x4 0 0 0 0))
          (f32x4.ne (f32x4.sub (local.get $w) (local.get $w)) (v128.const f32x4 0 0 0 0)))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $vec)))
    ;; one at a time from there: the eight that held one, or the last n mod 8
    (block $none
      (loop $one
        (br_if $none (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $x (f32.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))
        (if (f32.ne (f32.sub (local.get $x) (local.get $x)) (f32.const 0)) (then (return (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $one)))
    (i32.const -1))

  ;; The same over n doubles.
  (func (export "first_non_finite_f64") (param $n i32) (param $src i32) (result i32)
    (local $i i32) (local $n4 i32) (local $v v128) (local $w v128) (local $x f64)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $hit
      (loop $vec
        (br_if $hit (i32.ge_u (local.get $i) (local.get $n4)))
        (local.set $v (v128.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $w (v128.load offset=16 (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 3)))))
        (br_if $hit (v128.any_true (v128.or
          (f64x2.ne (f64x2.sub (local.get $v) (local.get $v)) (v128.const f64x2 0 0))
          (f64x2.ne (f64x2.sub (local.get $w) (local.get $w)) (v128.const f64x2 0 0)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vec)))
    (block $none
      (loop $one
        (br_if $none (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $x (f64.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 3)))))
        (if (f64.ne (f64.sub (local.get $x) (local.get $x)) (f64.const 0)) (then (return (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $one)))
    (i32.const -1))

  ;; dst (n) = Σ rows of src (m, n) from +0, rows in increasing order; four columns at a time
  ;; (the last group reads past a row's end into the next row or the room after src).
  (func (export "col_sum_f32") (param $m i32) (param $n i32) (param $src i32) (param $dst i32)
    (local $rs i32) (local $j i32) (local $p i32) (local $pEnd i32) (local $acc v128)
    (local.set $rs (i32.shl (local.get $n) (i32.const 2)))
    (block $jDone
      (loop $jLoop
        (br_if $jDone (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $acc (v128.const i64x2 0 0))
        (local.set $p (i32.add (local.get $src) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $pEnd (i32.add (local.get $p) (i32.mul (local.get $m) (local.get $rs))))
        (block $iDone
          (loop $iLoop
            (br_if $iDone (i32.ge_u (local.get $p) (local.get $pEnd)))
            (local.set $acc (f32x4.add (local.get $acc) (v128.load (local.get $p))))
            (local.set $p (i32.add (local.get $p) (local.get $rs)))
            (br $iLoop)))
        (v128.store (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2))) (local.get $acc))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $jLoop))))

  ;; c (m, n) += b (n) row by row: whole vectors, then the row's last n mod 4 one at a time
  ;; (a vector there would reach into the next row).
  (func (export "add_bias_f32") (param $m i32) (param $n i32) (param $c i32) (param $b i32)
    (local $i i32) (local $j i32) (local $n4 i32) (local $row i32) (local $q i32)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $row (local.get $c))
    (block $iDone
      (loop $iLoop
        (br_if $iDone (i32.ge_u (local.get $i) (local.get $m)))
        (local.set $j (i32.const 0))
        (block $vDone
          (loop $vLoop
            (br_if $vDone (i32.ge_u (local.get $j) (local.get $n4)))
            (local.set $q (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))
            (v128.store (local.get $q) (f32x4.add (v128.load (local.get $q))
              (v128.load (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $vLoop)))
        (block $sDone
          (loop $sLoop
            (br_if $sDone (i32.ge_u (local.get $j) (local.get $n)))
            (local.set $q (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))
            (f32.store (local.get $q) (f32.add (f32.load (local.get $q))
              (f32.load (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $sLoop)))
        (local.set $row (i32.add (local.get $row) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $iLoop))))

  ;; activateBackward over n floats: g ← g·(1 − a·a) ($sigmoid 0, tanh) or g ← g·(a·(1 − a))
  ;; ($sigmoid 1), each operation rounded to float32 as the reference rounds it.
  (func (export "act_backward_f32") (param $n i32) (param $g i32) (param $a i32) (param $sigmoid i32)
    (local $end i32) (local $av v128) (local $d v128)
    (local.set $end (i32.add (local.get $g) (i32.shl (local.get $n) (i32.const 2))))
    (if (i32.lt_u (local.get $g) (local.get $end))
      (then
        (loop $lanes
          (local.set $av (v128.load (local.get $a)))
          (if (local.get $sigmoid)
            (then (local.set $d (f32x4.mul (local.get $av) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $av)))))
            (else (local.set $d (f32x4.sub (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $av) (local.get $av))))))
          (v128.store (local.get $g) (f32x4.mul (v128.load (local.get $g)) (local.get $d)))
          (local.set $g (i32.add (local.get $g) (i32.const 16)))
          (local.set $a (i32.add (local.get $a) (i32.const 16)))
          (br_if $lanes (i32.lt_u (local.get $g) (local.get $end)))))))

  ;; activationStats (rule 9) of m rows of n: returns the outputs in saturation among the m·n
  ;; at $a — $mode 1: 1 − a² < $limit, 2: a·(1 − a) < $limit, both in float64 as the reference
  ;; computes them; 0: none — and leaves at $cnt, per column j (an i32 each, four at a time),
  ;; the rows whose z > 0. Whole vectors, then the last m·n mod 4 one at a time: a zero past
  ;; the data would count as saturated under sigmoid.
  (func (export "act_stats_f32") (param $m i32) (param $n i32) (param $z i32) (param $a i32) (param $mode i32) (param $limit f64) (param $cnt i32) (result i32)
    (local $len i32) (local $len4 i32) (local $i i32) (local $av v128) (local $lo v128) (local $hi v128)
    (local $lim v128) (local $sat v128) (local $c i32) (local $v f64)
    (local $rs i32) (local $j i32) (local $p i32) (local $pEnd i32) (local $pos v128)
    (local.set $len (i32.mul (local.get $m) (local.get $n)))
    (if (local.get $mode)
      (then
        (local.set $len4 (i32.and (local.get $len) (i32.const -4)))
        (local.set $lim (f64x2.splat (local.get $limit)))
        (block $vDone
          (loop $vLoop
            (br_if $vDone (i32.ge_u (local.get $i) (local.get $len4)))
            (local.set $av (v128.load (i32.add (local.get $a) (i32.shl (local.get $i) (i32.const 2)))))
            (local.set $lo (f64x2.promote_low_f32x4 (local.get $av)))
            (local.set $hi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $av) (local.get $av))))
            (if (i32.eq (local.get $mode) (i32.const 1))
              (then
                (local.set $lo (f64x2.sub (v128.const f64x2 1 1) (f64x2.mul (local.get $lo) (local.get $lo))))
                (local.set $hi (f64x2.sub (v128.const f64x2 1 1) (f64x2.mul (local.get $hi) (local.get $hi)))))
              (else
                (local.set $lo (f64x2.mul (local.get $lo) (f64x2.sub (v128.const f64x2 1 1) (local.get $lo))))
                (local.set $hi (f64x2.mul (local.get $hi) (f64x2.sub (v128.const f64x2 1 1) (local.get $hi))))))
            ;; a true lane is −1: subtracting counts it
            (local.set $sat (i64x2.sub (local.get $sat) (f64x2.lt (local.get $lo) (local.get $lim))))
            (local.set $sat (i64x2.sub (local.get $sat) (f64x2.lt (local.get $hi) (local.get $lim))))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $vLoop)))
        (local.set $c (i32.wrap_i64 (i64.add (i64x2.extract_lane 0 (local.get $sat)) (i64x2.extract_lane 1 (local.get $sat)))))
        (block $sDone
          (loop $sLoop
            (br_if $sDone (i32.ge_u (local.get $i) (local.get $len)))
            (local.set $v (f64.promote_f32 (f32.load (i32.add (local.get $a) (i32.shl (local.get $i) (i32.const 2))))))
            (if (f64.lt
                  (if (result f64) (i32.eq (local.get $mode) (i32.const 1))
                    (then (f64.sub (f64.const 1) (f64.mul (local.get $v) (local.get $v))))
                    (else (f64.mul (local.get $v) (f64.sub (f64.const 1) (local.get $v)))))
                  (local.get $limit))
              (then (local.set $c (i32.add (local.get $c) (i32.const 1)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $sLoop)))))
    ;; z > 0 per column, four columns at a time down the rows (as col_sum_f32 walks them)
    (local.set $rs (i32.shl (local.get $n) (i32.const 2)))
    (block $jDone
      (loop $jLoop
        (br_if $jDone (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $pos (v128.const i64x2 0 0))
        (local.set $p (i32.add (local.get $z) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $pEnd (i32.add (local.get $p) (i32.mul (local.get $m) (local.get $rs))))
        (block $rDone
          (loop $rLoop
            (br_if $rDone (i32.ge_u (local.get $p) (local.get $pEnd)))
            (local.set $pos (i32x4.sub (local.get $pos) (f32x4.gt (v128.load (local.get $p)) (v128.const f32x4 0 0 0 0))))
            (local.set $p (i32.add (local.get $p) (local.get $rs)))
            (br $rLoop)))
        (v128.store (i32.add (local.get $cnt) (i32.shl (local.get $j) (i32.const 2))) (local.get $pos))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $jLoop)))
    (local.get $c))

  ;; ---- vector passes (kernels.ts rule 7): element by element, so four or two lanes at a time
  ;; give the same bits. The caller leaves room for a whole last vector after each operand.

  ;; a ← a + b over n floats.
  (func (export "add_f32") (param $n i32) (param $a i32) (param $b i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 2))))
    (if (i32.lt_u (local.get $a) (local.get $end))
      (then
        (loop $lanes
          (v128.store (local.get $a) (f32x4.add (v128.load (local.get $a)) (v128.load (local.get $b))))
          (local.set $a (i32.add (local.get $a) (i32.const 16)))
          (local.set $b (i32.add (local.get $b) (i32.const 16)))
          (br_if $lanes (i32.lt_u (local.get $a) (local.get $end)))))))

  ;; a ← a + b over n doubles.
  (func (export "add_f64") (param $n i32) (param $a i32) (param $b i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 3))))
    (if (i32.lt_u (local.get $a) (local.get $end))
      (then
        (loop $lanes
          (v128.store (local.get $a) (f64x2.add (v128.load (local.get $a)) (v128.load (local.get $b))))
          (local.set $a (i32.add (local.get $a) (i32.const 16)))
          (local.set $b (i32.add (local.get $b) (i32.const 16)))
          (br_if $lanes (i32.lt_u (local.get $a) (local.get $end)))))))

  ;; SGD over n floats: u = lr·g rounded to float32, with the product taken in float64 as the
  ;; reference takes it (lr is a double); p ← p − u.
  (func (export "sgd_f32") (param $n i32) (param $lr f64) (param $g i32) (param $p i32) (param $u i32)
    (local $end i32) (local $lrv v128) (local $gv v128) (local $uv v128)
    (local.set $lrv (f64x2.splat (local.get $lr)))
    (local.set $end (i32.add (local.get $g) (i32.shl (local.get $n) (i32.const 2))))
    (if (i32.lt_u (local.get $g) (local.get $end))
      (then
        (loop $lanes
          (local.set $gv (v128.load (local.get $g)))
          (local.set $uv (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (f64x2.mul (f64x2.promote_low_f32x4 (local.get $gv)) (local.get $lrv)))
            (f32x4.demote_f64x2_zero (f64x2.mul (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $gv) (local.get $gv)))
              (local.get $lrv)))))
          (v128.store (local.get $u) (local.get $uv))
          (v128.store (local.get $p) (f32x4.sub (v128.load (local.get $p)) (local.get $uv)))
          (local.set $g (i32.add (local.get $g) (i32.const 16)))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (local.set $u (i32.add (local.get $u) (i32.const 16)))
          (br_if $lanes (i32.lt_u (local.get $g) (local.get $end)))))))

  ;; SGD over n doubles: u = lr·g, p ← p − u.
  (func (export "sgd_f64") (param $n i32) (param $lr f64) (param $g i32) (param $p i32) (param $u i32)
    (local $end i32) (local $lrv v128) (local $uv v128)
    (local.set $lrv (f64x2.splat (local.get $lr)))
    (local.set $end (i32.add (local.get $g) (i32.shl (local.get $n) (i32.const 3))))
    (if (i32.lt_u (local.get $g) (local.get $end))
      (then
        (loop $lanes
          (local.set $uv (f64x2.mul (local.get $lrv) (v128.load (local.get $g))))
          (v128.store (local.get $u) (local.get $uv))
          (v128.store (local.get $p) (f64x2.sub (v128.load (local.get $p)) (local.get $uv)))
          (local.set $g (i32.add (local.get $g) (i32.const 16)))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (local.set $u (i32.add (local.get $u) (i32.const 16)))
          (br_if $lanes (i32.lt_u (local.get $g) (local.get $end)))))))

  ;; reduceGrad over n floats, n a multiple of 8 (the caller pads g and p with zeros, which add
  ;; +0 to every sum): g ← g/divisor (+ λ·p) in float64, rounded once to float32; Σg² and Σp²
  ;; in float64 in the 8 lanes of rule 8 (element i in lane i mod 8), left at address 0 as
  ;; doubles [Σg² lanes 0..7, Σp² lanes 0..7] for the caller's fixed combination — one call per
  ;; block of NORM_BLOCK elements (the caller adds the block sums). Dividing by a
  ;; divisor of 1 is exact, so it is done always.
  (func (export "reduce_f32") (param $n i32) (param $g i32) (param $p i32)
    (param $divisor f64) (param $lambda f64) (param $useLambda i32)
    (local $end i32) (local $dv v128) (local $lv v128) (local $mask v128)
    (local $gv v128) (local $pv v128) (local $t0 v128) (local $t1 v128) (local $v0 v128) (local $v1 v128) (local $q v128)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local $u0 v128) (local $u1 v128) (local $u2 v128) (local $u3 v128)
    (local.set $dv (f64x2.splat (local.get $divisor)))
    (local.set $lv (f64x2.splat (local.get $lambda)))
    ;; λ = 0 adds nothing, not +0·p (which would turn −0 into +0 and ±∞·0 into NaN)
    (local.set $mask (i32x4.splat (i32.sub (i32.const 0) (local.get $useLambda))))
    (local.set $end (i32.add (local.get $g) (i32.shl (local.get $n) (i32.const 2))))
    (if (i32.lt_u (local.get $g) (local.get $end))
      (then
        (loop $eights
          ;; elements 0..3: two pairs in float64
          (local.set $gv (v128.load offset=0 (local.get $g)))
          (local.set $pv (v128.load offset=0 (local.get $p)))
          (local.set $t0 (f64x2.promote_low_f32x4 (local.get $pv)))
          (local.set $t1 (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $pv) (local.get $pv))))
          (local.set $v0 (f64x2.div (f64x2.promote_low_f32x4 (local.get $gv)) (local.get $dv)))
          (local.set $v1 (f64x2.div (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $gv) (local.get $gv))) (local.get $dv)))
          (local.set $v0 (v128.bitselect (f64x2.add (local.get $v0) (f64x2.mul (local.get $lv) (local.get $t0))) (local.get $v0) (local.get $mask)))
          (local.set $v1 (v128.bitselect (f64x2.add (local.get $v1) (f64x2.mul (local.get $lv) (local.get $t1))) (local.get $v1) (local.get $mask)))
          (local.set $q (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (local.get $v0)) (f32x4.demote_f64x2_zero (local.get $v1))))
          (v128.store offset=0 (local.get $g) (local.get $q))
          ;; the squares of the stored (rounded) values, and of p
          (local.set $v0 (f64x2.promote_low_f32x4 (local.get $q)))
          (local.set $v1 (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $q) (local.get $q))))
          (local.set $s0 (f64x2.add (local.get $s0) (f64x2.mul (local.get $v0) (local.get $v0))))
          (local.set $s1 (f64x2.add (local.get $s1) (f64x2.mul (local.get $v1) (local.get $v1))))
          (local.set $u0 (f64x2.add (local.get $u0) (f64x2.mul (local.get $t0) (local.get $t0))))
          (local.set $u1 (f64x2.add (local.get $u1) (f64x2.mul (local.get $t1) (local.get $t1))))
          ;; elements 4..7: two pairs in float64
          (local.set $gv (v128.load offset=16 (local.get $g)))
          (local.set $pv (v128.load offset=16 (local.get $p)))
          (local.set $t0 (f64x2.promote_low_f32x4 (local.get $pv)))
          (local.set $t1 (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $pv) (local.get $pv))))
          (local.set $v0 (f64x2.div (f64x2.promote_low_f32x4 (local.get $gv)) (local.get $dv)))
          (local.set $v1 (f64x2.div (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $gv) (local.get $gv))) (local.get $dv)))
          (local.set $v0 (v128.bitselect (f64x2.add (local.get $v0) (f64x2.mul (local.get $lv) (local.get $t0))) (local.get $v0) (local.get $mask)))
          (local.set $v1 (v128.bitselect (f64x2.add (local.get $v1) (f64x2.mul (local.get $lv) (local.get $t1))) (local.get $v1) (local.get $mask)))
          (local.set $q (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (local.get $v0)) (f32x4.demote_f64x2_zero (local.get $v1))))
          (v128.store offset=16 (local.get $g) (local.get $q))
          ;; the squares of the stored (rounded) values, and of p
          (local.set $v0 (f64x2.promote_low_f32x4 (local.get $q)))
          (local.set $v1 (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $q) (local.get $q))))
          (local.set $s2 (f64x2.add (local.get $s2) (f64x2.mul (local.get $v0) (local.get $v0))))
          (local.set $s3 (f64x2.add (local.get $s3) (f64x2.mul (local.get $v1) (local.get $v1))))
          (local.set $u2 (f64x2.add (local.get $u2) (f64x2.mul (local.get $t0) (local.get $t0))))
          (local.set $u3 (f64x2.add (local.get $u3) (f64x2.mul (local.get $t1) (local.get $t1))))
          (local.set $g (i32.add (local.get $g) (i32.const 32)))
          (local.set $p (i32.add (local.get $p) (i32.const 32)))
          (br_if $eights (i32.lt_u (local.get $g) (local.get $end))))))
    (v128.store (i32.const 0) (local.get $s0)) (v128.store (i32.const 16) (local.get $s1))
    (v128.store (i32.const 32) (local.get $s2)) (v128.store (i32.const 48) (local.get $s3))
    (v128.store (i32.const 64) (local.get $u0)) (v128.store (i32.const 80) (local.get $u1))
    (v128.store (i32.const 96) (local.get $u2)) (v128.store (i32.const 112) (local.get $u3)))

  ;; reduceSgd's passes in one, over n floats, n a multiple of 8 (the caller pads g and p with
  ;; zeros: they add +0 to every sum, and their lanes are never copied out): g as reduce_f32
  ;; makes it — or, with $mode 1 (λ = 0 and a power-of-two divisor), g·$recip in float32, the
  ;; same bits (multiplying by the exact 2^−k and dividing by 2^k round the same exact value
  ;; once) without the float64 round trip; Σg² and Σp² in rule 8's lanes, left at address 0 as
  ;; reduce_f32 leaves them; then p ← p − u with u = lr·g as sgd_f32 rounds it. g itself is not
  ;; stored: the caller keeps the old p, not g (kernels.ts reduceSgd).
  (func (export "reduce_sgd_f32") (param $n i32) (param $g i32) (param $p i32)
    (param $divisor f64) (param $lambda f64) (param $useLambda i32) (param $lr f64) (param $recip f32) (param $mode i32)
    (local $end i32) (local $dv v128) (local $lv v128) (local $mask v128) (local $rv v128) (local $lrv v128)
    (local $gv v128) (local $pv v128) (local $t0 v128) (local $t1 v128) (local $v0 v128) (local $v1 v128) (local $q v128)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local $u0 v128) (local $u1 v128) (local $u2 v128) (local $u3 v128)
    (local.set $dv (f64x2.splat (local.get $divisor)))
    (local.set $lv (f64x2.splat (local.get $lambda)))
    (local.set $rv (f32x4.splat (local.get $recip)))
    (local.set $lrv (f64x2.splat (local.get $lr)))
    ;; λ = 0 adds nothing, not +0·p (which would turn −0 into +0 and ±∞·0 into NaN)
    (local.set $mask (i32x4.splat (i32.sub (i32.const 0) (local.get $useLambda))))
    (local.set $end (i32.add (local.get $g) (i32.shl (local.get $n) (i32.const 2))))
    (if (i32.lt_u (local.get $g) (local.get $end))
      (then
        (loop $eights
          ;; elements 0..3
          (local.set $gv (v128.load offset=0 (local.get $g)))
          (local.set $pv (v128.load offset=0 (local.get $p)))
          (local.set $t0 (f64x2.promote_low_f32x4 (local.get $pv)))
          (local.set $t1 (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $pv) (local.get $pv))))
          (if (local.get $mode)
            (then (local.set $q (f32x4.mul (local.get $gv) (local.get $rv))))
            (else
              (local.set $v0 (f64x2.div (f64x2.promote_low_f32x4 (local.get $gv)) (local.get $dv)))
              (local.set $v1 (f64x2.div (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $gv) (local.get $gv))) (local.get $dv)))
              (local.set $v0 (v128.bitselect (f64x2.add (local.get $v0) (f64x2.mul (local.get $lv) (local.get $t0))) (local.get $v0) (local.get $mask)))
              (local.set $v1 (v128.bitselect (f64x2.add (local.get $v1) (f64x2.mul (local.get $lv) (local.get $t1))) (local.get $v1) (local.get $mask)))
              (local.set $q (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (f32x4.demote_f64x2_zero (local.get $v0)) (f32x4.demote_f64x2_zero (local.get $v1))))))
          ;; the squares of the rounded g and of p; u = lr·g in float64, rounded; p − u
          (local.set $v0 (f64x2.promote_low_f32x4 (local.get $q)))
          (local.set $v1 (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $q) (local.get $q))))
          (local.set $s0 (f64x2.add (local.get $s0) (f64x2.mul (local.get $v0) (local.get $v0))))
          (local.set $s1 (f64x2.add (local.get $s1) (f64x2.mul (local.get $v1) (local.get $v1))))
          (local.set $u0 (f64x2.add (local.get $u0) (f64x2.mul (local.get $t0) (local.get $t0))))
          (local.set $u1 (f64x2.add (local.get $u1) (f64x2.mul (local.get $t1) (local.get $t1))))
          (v128.store offset=0 (local.get $p) (f32x4.sub (local.get $pv) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (f64x2.mul (local.get $v0) (local.get $lrv)))
            (f32x4.demote_f64x2_zero (f64x2.mul (local.get $v1) (local.get $lrv))))))
          ;; elements 4..7
          (local.set $gv (v128.load offset=16 (local.get $g)))
          (local.set $pv (v128.load offset=16 (local.get $p)))
          (local.set $t0 (f64x2.promote_low_f32x4 (local.get $pv)))
          (local.set $t1 (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $pv) (local.get $pv))))
          (if (local.get $mode)
            (then (local.set $q (f32x4.mul (local.get $gv) (local.get $rv))))
            (else
              (local.set $v0 (f64x2.div (f64x2.promote_low_f32x4 (local.get $gv)) (local.get $dv)))
              (local.set $v1 (f64x2.div (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $gv) (local.get $gv))) (local.get $dv)))
              (local.set $v0 (v128.bitselect (f64x2.add (local.get $v0) (f64x2.mul (local.get $lv) (local.get $t0))) (local.get $v0) (local.get $mask)))
              (local.set $v1 (v128.bitselect (f64x2.add (local.get $v1) (f64x2.mul (local.get $lv) (local.get $t1))) (local.get $v1) (local.get $mask)))
              (local.set $q (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (f32x4.demote_f64x2_zero (local.get $v0)) (f32x4.demote_f64x2_zero (local.get $v1))))))
          ;; the squares of the rounded g and of p; u = lr·g in float64, rounded; p − u
          (local.set $v0 (f64x2.promote_low_f32x4 (local.get $q)))
          (local.set $v1 (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $q) (local.get $q))))
          (local.set $s2 (f64x2.add (local.get $s2) (f64x2.mul (local.get $v0) (local.get $v0))))
          (local.set $s3 (f64x2.add (local.get $s3) (f64x2.mul (local.get $v1) (local.get $v1))))
          (local.set $u2 (f64x2.add (local.get $u2) (f64x2.mul (local.get $t0) (local.get $t0))))
          (local.set $u3 (f64x2.add (local.get $u3) (f64x2.mul (local.get $t1) (local.get $t1))))
          (v128.store offset=16 (local.get $p) (f32x4.sub (local.get $pv) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (f64x2.mul (local.get $v0) (local.get $lrv)))
            (f32x4.demote_f64x2_zero (f64x2.mul (local.get $v1) (local.get $lrv))))))
          (local.set $g (i32.add (local.get $g) (i32.const 32)))
          (local.set $p (i32.add (local.get $p) (i32.const 32)))
          (br_if $eights (i32.lt_u (local.get $g) (local.get $end))))))
    (v128.store (i32.const 0) (local.get $s0)) (v128.store (i32.const 16) (local.get $s1))
    (v128.store (i32.const 32) (local.get $s2)) (v128.store (i32.const 48) (local.get $s3))
    (v128.store (i32.const 64) (local.get $u0)) (v128.store (i32.const 80) (local.get $u1))
    (v128.store (i32.const 96) (local.get $u2)) (v128.store (i32.const 112) (local.get $u3)))

  ;; The same over n doubles (no rounding step: the float64 value is the stored one).
  (func (export "reduce_f64") (param $n i32) (param $g i32) (param $p i32)
    (param $divisor f64) (param $lambda f64) (param $useLambda i32)
    (local $end i32) (local $dv v128) (local $lv v128) (local $mask v128)
    (local $gv v128) (local $pv v128) (local $t0 v128) (local $t1 v128) (local $v0 v128) (local $v1 v128) (local $q v128)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local $u0 v128) (local $u1 v128) (local $u2 v128) (local $u3 v128)
    (local.set $dv (f64x2.splat (local.get $divisor)))
    (local.set $lv (f64x2.splat (local.get $lambda)))
    ;; λ = 0 adds nothing, not +0·p (which would turn −0 into +0 and ±∞·0 into NaN)
    (local.set $mask (i32x4.splat (i32.sub (i32.const 0) (local.get $useLambda))))
    (local.set $end (i32.add (local.get $g) (i32.shl (local.get $n) (i32.const 3))))
    (if (i32.lt_u (local.get $g) (local.get $end))
      (then
        (loop $eights
          (local.set $t0 (v128.load offset=0 (local.get $p)))
          (local.set $v0 (f64x2.div (v128.load offset=0 (local.get $g)) (local.get $dv)))
          (local.set $v0 (v128.bitselect (f64x2.add (local.get $v0) (f64x2.mul (local.get $lv) (local.get $t0))) (local.get $v0) (local.get $mask)))
          (v128.store offset=0 (local.get $g) (local.get $v0))
          (local.set $s0 (f64x2.add (local.get $s0) (f64x2.mul (local.get $v0) (local.get $v0))))
          (local.set $u0 (f64x2.add (local.get $u0) (f64x2.mul (local.get $t0) (local.get $t0))))
          (local.set $t0 (v128.load offset=16 (local.get $p)))
          (local.set $v0 (f64x2.div (v128.load offset=16 (local.get $g)) (local.get $dv)))
          (local.set $v0 (v128.bitselect (f64x2.add (local.get $v0) (f64x2.mul (local.get $lv) (local.get $t0))) (local.get $v0) (local.get $mask)))
          (v128.store offset=16 (local.get $g) (local.get $v0))
          (local.set $s1 (f64x2.add (local.get $s1) (f64x2.mul (local.get $v0) (local.get $v0))))
          (local.set $u1 (f64x2.add (local.get $u1) (f64x2.mul (local.get $t0) (local.get $t0))))
          (local.set $t0 (v128.load offset=32 (local.get $p)))
          (local.set $v0 (f64x2.div (v128.load offset=32 (local.get $g)) (local.get $dv)))
          (local.set $v0 (v128.bitselect (f64x2.add (local.get $v0) (f64x2.mul (local.get $lv) (local.get $t0))) (local.get $v0) (local.get $mask)))
          (v128.store offset=32 (local.get $g) (local.get $v0))
          (local.set $s2 (f64x2.add (local.get $s2) (f64x2.mul (local.get $v0) (local.get $v0))))
          (local.set $u2 (f64x2.add (local.get $u2) (f64x2.mul (local.get $t0) (local.get $t0))))
          (local.set $t0 (v128.load offset=48 (local.get $p)))
          (local.set $v0 (f64x2.div (v128.load offset=48 (local.get $g)) (local.get $dv)))
          (local.set $v0 (v128.bitselect (f64x2.add (local.get $v0) (f64x2.mul (local.get $lv) (local.get $t0))) (local.get $v0) (local.get $mask)))
          (v128.store offset=48 (local.get $g) (local.get $v0))
          (local.set $s3 (f64x2.add (local.get $s3) (f64x2.mul (local.get $v0) (local.get $v0))))
          (local.set $u3 (f64x2.add (local.get $u3) (f64x2.mul (local.get $t0) (local.get $t0))))
          (local.set $g (i32.add (local.get $g) (i32.const 64)))
          (local.set $p (i32.add (local.get $p) (i32.const 64)))
          (br_if $eights (i32.lt_u (local.get $g) (local.get $end))))))
    (v128.store (i32.const 0) (local.get $s0)) (v128.store (i32.const 16) (local.get $s1))
    (v128.store (i32.const 32) (local.get $s2)) (v128.store (i32.const 48) (local.get $s3))
    (v128.store (i32.const 64) (local.get $u0)) (v128.store (i32.const 80) (local.get $u1))
    (v128.store (i32.const 96) (local.get $u2)) (v128.store (i32.const 112) (local.get $u3)))
)
