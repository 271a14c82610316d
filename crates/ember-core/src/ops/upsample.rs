//! Upsampling of `[N, C, H, W]` tensors to a given size: `upsample_nearest2d` and
//! `upsample_bilinear2d`, with PyTorch's index formulas. Both are linear maps applied plane by
//! plane, declared as [`PlaneMap`]s with their adjoints (the adjoint is the gradient, and the
//! gradient of the adjoint is the map again).

use crate::cpu::math::Float;
use crate::cpu::pool_kernels::for_each_plane;
use crate::cpu::upsample_kernels as k;
use crate::error::{dtype_err, shape_err, Result};
use crate::ops::pool::{apply_plane_map, PlaneMap};
use crate::storage::StorageElem;
use crate::tensor::Tensor;

#[derive(Clone)]
struct Nearest {
    in_hw: [usize; 2],
    out_hw: [usize; 2],
}

impl PlaneMap for Nearest {
    const NAME: &'static str = "upsample_nearest2d";
    const ADJOINT_NAME: &'static str = "upsample_nearest2d_backward";
    fn in_hw(&self) -> [usize; 2] {
        self.in_hw
    }
    fn out_hw(&self) -> [usize; 2] {
        self.out_hw
    }
    fn forward<T: Float + StorageElem>(&self, x: &[T], planes: usize) -> Vec<T> {
        let rows = k::nearest_indices(self.in_hw[0], self.out_hw[0]);
        let cols = k::nearest_indices(self.in_hw[1], self.out_hw[1]);
        let [i, o] = [self.in_hw, self.out_hw].map(|s| s[0] * s[1]);
        for_each_plane(x, planes, i, o, T::ZERO, |_, x, y| k::nearest_forward(x, self.in_hw[1], &rows, &cols, y))
    }
    fn adjoint<T: Float + StorageElem>(&self, y: &[T], planes: usize) -> Vec<T> {
        let rows = k::nearest_indices(self.in_hw[0], self.out_hw[0]);
        let cols = k::nearest_indices(self.in_hw[1], self.out_hw[1]);
        let [i, o] = [self.in_hw, self.out_hw].map(|s| s[0] * s[1]);
        for_each_plane(y, planes, o, i, T::ZERO, |_, y, x| k::nearest_adjoint(y, self.in_hw[1], &rows, &cols, x))
    }
}

#[derive(Clone)]
struct Bilinear {
    in_hw: [usize; 2],
    out_hw: [usize; 2],
    align_corners: bool,
}

impl PlaneMap for Bilinear {
    const NAME: &'static str = "upsample_bilinear2d";
    const ADJOINT_NAME: &'static str = "upsample_bilinear2d_backward";
    fn in_hw(&self) -> [usize; 2] {
        self.in_hw
    }
    fn out_hw(&self) -> [usize; 2] {
        self.out_hw
    }
    fn forward<T: Float + StorageElem>(&self, x: &[T], planes: usize) -> Vec<T> {
        let rows = k::linear_taps::<T>(self.in_hw[0], self.out_hw[0], self.align_corners);
        let cols = k::linear_taps::<T>(self.in_hw[1], self.out_hw[1], self.align_corners);
        let [i, o] = [self.in_hw, self.out_hw].map(|s| s[0] * s[1]);
        for_each_plane(x, planes, i, o, T::ZERO, |_, x, y| k::bilinear_forward(x, self.in_hw[1], &rows, &cols, y))
    }
    fn adjoint<T: Float + StorageElem>(&self, y: &[T], planes: usize) -> Vec<T> {
        let rows = k::linear_taps::<T>(self.in_hw[0], self.out_hw[0], self.align_corners);
        let cols = k::linear_taps::<T>(self.in_hw[1], self.out_hw[1], self.align_corners);
        let [i, o] = [self.in_hw, self.out_hw].map(|s| s[0] * s[1]);
        for_each_plane(y, planes, o, i, T::ZERO, |_, y, x| k::bilinear_adjoint(y, self.in_hw[1], &rows, &cols, x))
    }
}

/// A 4-D float input with non-empty planes and a non-empty output size.
fn check_upsample(op: &'static str, x: &Tensor, out: [usize; 2]) -> Result<[usize; 2]> {
    let s = x.shape();
    if s.len() != 4 || s[2] == 0 || s[3] == 0 || out.contains(&0) {
        return Err(shape_err(op, format!("expected a 4-D input with non-empty H and W and a positive output size, got input {s:?} and output size {out:?}")));
    }
    if !x.dtype().is_float() {
        return Err(dtype_err(op, format!("expected a floating point input, got {}", x.dtype())));
    }
    Ok([s[2], s[3]])
}

impl Tensor {
    /// Nearest-neighbour upsampling (or downsampling) of `[N, C, H, W]` to `[N, C, oh, ow]`, as
    /// PyTorch's `F.interpolate(mode="nearest", size=...)`: output `i` reads input
    /// `min(floor(i * H / oh), H - 1)`.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[[[[1.0f32, 2.0]]]]);
    /// let y = x.upsample_nearest2d([2, 4]).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
    /// ```
    pub fn upsample_nearest2d(&self, output_size: [usize; 2]) -> Result<Tensor> {
        let in_hw = check_upsample("upsample_nearest2d", self, output_size)?;
        apply_plane_map(self, &Nearest { in_hw, out_hw: output_size }, false)
    }

    /// Bilinear upsampling of `[N, C, H, W]` to `[N, C, oh, ow]`, as PyTorch's
    /// `F.interpolate(mode="bilinear", size=..., align_corners=...)`.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::new(&[[[[0.0f32, 1.0]]]]);
    /// let y = x.upsample_bilinear2d([1, 3], true).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0, 0.5, 1.0]);
    /// let y = x.upsample_bilinear2d([1, 4], false).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0, 0.25, 0.75, 1.0]);
    /// ```
    pub fn upsample_bilinear2d(&self, output_size: [usize; 2], align_corners: bool) -> Result<Tensor> {
        let in_hw = check_upsample("upsample_bilinear2d", self, output_size)?;
        apply_plane_map(self, &Bilinear { in_hw, out_hw: output_size, align_corners }, false)
    }
}
