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
        for_each_plane(x, planes, i, o, |_, x, y| {
            k::nearest_forward(x, self.in_hw[1], &rows, &cols, y)
        })
    }
    fn adjoint<T: Float + StorageElem>(&self, y: &[T], planes: usize) -> Vec<T> {
        let rows = k::nearest_indices(self.in_hw[0], self.out_hw[0]);
        let cols = k::nearest_indices(self.in_hw[1], self.out_hw[1]);
        let [i, o] = [self.in_hw, self.out_hw].map(|s| s[0] * s[1]);
        for_each_plane(y, planes, o, i, |_, y, x| {
            k::nearest_adjoint(y, self.in_hw[1], &rows, &cols, x)
        })
    }
    #[cfg(feature = "cuda")]
    fn run_cuda(&self, x: &Tensor, adjoint: bool) -> Option<Result<Tensor>> {
        use crate::cuda::ops::resample::{resample, Resample};
        Some(resample(Resample::Nearest, x, self.in_hw, self.out_hw, adjoint))
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
        for_each_plane(x, planes, i, o, |_, x, y| {
            k::bilinear_forward(x, self.in_hw[1], &rows, &cols, y)
        })
    }
    fn adjoint<T: Float + StorageElem>(&self, y: &[T], planes: usize) -> Vec<T> {
        let rows = k::linear_taps::<T>(self.in_hw[0], self.out_hw[0], self.align_corners);
        let cols = k::linear_taps::<T>(self.in_hw[1], self.out_hw[1], self.align_corners);
        let [i, o] = [self.in_hw, self.out_hw].map(|s| s[0] * s[1]);
        for_each_plane(y, planes, o, i, |_, y, x| {
            k::bilinear_adjoint(y, self.in_hw[1], &rows, &cols, x)
        })
    }
    #[cfg(feature = "cuda")]
    fn run_cuda(&self, x: &Tensor, adjoint: bool) -> Option<Result<Tensor>> {
        use crate::cuda::ops::resample::{resample, Resample};
        let map = Resample::Bilinear {
            align_corners: self.align_corners,
        };
        Some(resample(map, x, self.in_hw, self.out_hw, adjoint))
    }
}

/// A 4-D float input with non-empty planes and a non-empty output size.
fn check_upsample(op: &'static str, x: &Tensor, out: [usize; 2]) -> Result<[usize; 2]> {
    let s = x.shape();
    if s.len() != 4 || s[2] == 0 || s[3] == 0 || out.contains(&0) {
        return Err(shape_err(op, format!("expected a 4-D input with non-empty H and W and a positive output size, got input {s:?} and output size {out:?}")));
    }
    if !x.dtype().is_float() {
        return Err(dtype_err(
            op,
            format!("expected a floating point input, got {}", x.dtype()),
        ));
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
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0], &[1, 1, 1, 2]).unwrap();
    /// let y = x.upsample_nearest2d([2, 4]).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
    /// ```
    pub fn upsample_nearest2d(&self, output_size: [usize; 2]) -> Result<Tensor> {
        let in_hw = check_upsample("upsample_nearest2d", self, output_size)?;
        apply_plane_map(
            self,
            &Nearest {
                in_hw,
                out_hw: output_size,
            },
            false,
        )
    }

    /// Bilinear upsampling of `[N, C, H, W]` to `[N, C, oh, ow]`, as PyTorch's
    /// `F.interpolate(mode="bilinear", size=..., align_corners=...)`.
    ///
    /// ```
    /// use ember_core::Tensor;
    /// let x = Tensor::from_vec(vec![0.0f32, 1.0], &[1, 1, 1, 2]).unwrap();
    /// let y = x.upsample_bilinear2d([1, 3], true).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0, 0.5, 1.0]);
    /// let y = x.upsample_bilinear2d([1, 4], false).unwrap();
    /// assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0, 0.25, 0.75, 1.0]);
    /// ```
    pub fn upsample_bilinear2d(&self, output_size: [usize; 2], align_corners: bool) -> Result<Tensor> {
        let in_hw = check_upsample("upsample_bilinear2d", self, output_size)?;
        apply_plane_map(
            self,
            &Bilinear {
                in_hw,
                out_hw: output_size,
                align_corners,
            },
            false,
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::autograd::gradcheck;
    use crate::dtype::DType;
    use crate::ops::pool::check_backward_of_backward;
    use crate::rng::Generator;
    use crate::tensor::Tensor;

    fn rand(shape: &[usize], seed: u64) -> Tensor {
        Tensor::randn_with(shape, &mut Generator::new(seed))
            .to_dtype(DType::F64)
            .unwrap()
    }

    fn grid() -> Tensor {
        Tensor::new(&[[0.0f32, 1.0], [2.0, 3.0]])
            .reshape(&[1, 1, 2, 2])
            .unwrap()
    }

    #[test]
    fn nearest_matches_pytorch_values() {
        let y = grid().upsample_nearest2d([3, 5]).unwrap();
        let want = [0., 0., 0., 1., 1., 0., 0., 0., 1., 1., 2., 2., 2., 3., 3.];
        assert_eq!(y.to_vec::<f32>().unwrap(), want);
        let y = grid().upsample_nearest2d([4, 4]).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap()[..8], [0., 0., 1., 1., 0., 0., 1., 1.]);
        // downsampling picks floor(i * in / out)
        let x = Tensor::arange(0.0, 5.0, 1.0)
            .unwrap()
            .to_float()
            .unwrap()
            .reshape(&[1, 1, 1, 5])
            .unwrap();
        assert_eq!(
            x.upsample_nearest2d([1, 3]).unwrap().to_vec::<f32>().unwrap(),
            vec![0.0, 1.0, 3.0]
        );
    }

    #[test]
    fn bilinear_matches_pytorch_values() {
        let y = grid().upsample_bilinear2d([4, 4], false).unwrap();
        let want = [
            0.0, 0.25, 0.75, 1.0, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2.0, 2.25, 2.75, 3.0,
        ];
        assert_eq!(y.to_vec::<f32>().unwrap(), want);
        let y = grid().upsample_bilinear2d([3, 3], true).unwrap();
        assert_eq!(
            y.to_vec::<f32>().unwrap(),
            vec![0.0, 0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.0]
        );
        let y = grid()
            .upsample_bilinear2d([4, 4], true)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        let third = 1.0f32 / 3.0;
        assert!((y[1] - third).abs() < 1e-6 && (y[4] - 2.0 * third).abs() < 1e-6);
        // same size is the identity
        let x = rand(&[2, 3, 4, 5], 1);
        assert_eq!(
            x.upsample_bilinear2d([4, 5], false).unwrap().to_vec::<f64>().unwrap(),
            x.to_vec::<f64>().unwrap()
        );
    }

    #[test]
    fn upsample_gradients() {
        let x = rand(&[2, 2, 3, 4], 2);
        for out in [[5, 7], [6, 8], [2, 3], [3, 4]] {
            let f = move |t: &[Tensor]| t[0].upsample_nearest2d(out);
            gradcheck(&f, &[x.clone()], 1e-6, 1e-7).unwrap();
            check_backward_of_backward(move |x| x.upsample_nearest2d(out), &x);
            for align in [false, true] {
                let f = move |t: &[Tensor]| t[0].upsample_bilinear2d(out, align);
                gradcheck(&f, &[x.clone()], 1e-6, 1e-7).unwrap();
                check_backward_of_backward(move |x| x.upsample_bilinear2d(out, align), &x);
            }
        }
        let xh = x.to_dtype(DType::F16).unwrap();
        let y = xh.upsample_bilinear2d([5, 7], false).unwrap();
        assert_eq!(y.dtype(), DType::F16);
        let want = x.upsample_bilinear2d([5, 7], false).unwrap().to_vec::<f64>().unwrap();
        for (a, b) in y.to_vec::<f64>().unwrap().iter().zip(&want) {
            assert!((a - b).abs() < 1e-2 * (1.0 + b.abs()));
        }
    }

    #[test]
    fn bad_upsample_arguments_are_errors() {
        let x = rand(&[2, 3, 4], 1);
        assert!(x
            .upsample_nearest2d([2, 2])
            .unwrap_err()
            .to_string()
            .contains("upsample_nearest2d"));
        let x = rand(&[1, 1, 2, 2], 1);
        assert!(x
            .upsample_bilinear2d([0, 2], false)
            .unwrap_err()
            .to_string()
            .contains("upsample_bilinear2d"));
        let xi = Tensor::zeros_dtype(&[1, 1, 2, 2], DType::I64).unwrap();
        assert!(xi.upsample_nearest2d([4, 4]).unwrap_err().to_string().contains("dtype"));
    }
}
