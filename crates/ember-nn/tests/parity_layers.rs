//! Every layer against PyTorch: the same weights (loaded by name from the fixture's
//! state_dict), the same inputs, then outputs, parameter gradients and input gradients of
//! `sum(out * cot)` must match (tools/gen_nn_fixtures.py writes the fixtures).

mod common;

use common::*;
use ember_core::Tensor;
use ember_nn::functional::{GeluApprox, Pair};
use ember_nn::*;
use std::collections::BTreeMap;

const RTOL: f64 = 1e-4;
const ATOL: f64 = 2e-5;

/// Load the case's weights into `m`, run `run`, and compare everything the fixture holds.
fn check(
    name: &str,
    m: &dyn Module,
    run: impl Fn(&dyn Module, &BTreeMap<String, Tensor>) -> Vec<(&'static str, Tensor)>,
) {
    check_tol(name, m, RTOL, ATOL, run)
}

fn check_tol(
    name: &str,
    m: &dyn Module,
    rtol: f64,
    atol: f64,
    run: impl Fn(&dyn Module, &BTreeMap<String, Tensor>) -> Vec<(&'static str, Tensor)>,
) {
    let fx = fixture(name);
    let report = m
        .load_state_dict(&with_prefix(&fx, "w"), true)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(report.is_clean());
    let ins = inputs(&fx);
    let outs = run(m, &ins);
    let mut loss: Option<Tensor> = None;
    for (k, y) in &outs {
        assert_close(y, &fx[&format!("out.{k}")], rtol, atol, &format!("{name} output {k}"));
        let l = y.mul(&fx[&format!("cot.{k}")]).unwrap().sum_all();
        loss = Some(match loss {
            Some(a) => a.add(&l).unwrap(),
            None => l,
        });
    }
    loss.unwrap().backward().unwrap();
    let grads = with_prefix(&fx, "grad");
    let params = m.named_parameters();
    assert_eq!(params.len(), grads.len(), "{name}: number of parameters with gradients");
    for (k, p) in params {
        let g = p.grad().unwrap_or_else(|| panic!("{name}: no gradient for {k}"));
        assert_close(&g, &grads[&k], rtol, atol, &format!("{name} grad {k}"));
    }
    for (k, g) in with_prefix(&fx, "gin") {
        assert_close(
            &ins[&k].grad().unwrap(),
            &g,
            rtol,
            atol,
            &format!("{name} input grad {k}"),
        );
    }
    let buffers: BTreeMap<String, Tensor> = m.named_buffers().into_iter().collect();
    for (k, b) in with_prefix(&fx, "after") {
        assert_close(&buffers[&k], &b, rtol, atol, &format!("{name} buffer {k}"));
    }
}

fn single(m: &dyn Module, ins: &BTreeMap<String, Tensor>) -> Vec<(&'static str, Tensor)> {
    let x = ins.values().next().unwrap();
    vec![("y", m.forward(x).unwrap())]
}

#[test]
fn linear() {
    check("linear", &Linear::new(5, 4), single);
    check("linear_3d_nobias", &Linear::with_bias(5, 4, false), single);
}

#[test]
fn bilinear() {
    let m = Bilinear::new(3, 4, 2);
    let f = fixture("bilinear");
    m.load_state_dict(&with_prefix(&f, "w"), true).unwrap();
    check("bilinear", &m, |_, ins| {
        vec![("y", m.forward2(&ins["x1"], &ins["x2"]).unwrap())]
    });
}

#[test]
fn conv() {
    check(
        "conv1d",
        &Conv1d::with(3, 4, 3, ConvOptions::default().stride(2).padding(1)).unwrap(),
        single,
    );
    check(
        "conv2d",
        &Conv2d::with(3, 4, 3, ConvOptions::default().stride(2).padding(1)).unwrap(),
        single,
    );
    let o = ConvOptions::default()
        .stride((1, 2))
        .padding((1, 0))
        .dilation((2, 1))
        .groups(2);
    check("conv2d_groups", &Conv2d::with(4, 6, (3, 2), o).unwrap(), single);
    let o = ConvOptions::default().stride(2).padding(1).output_padding(1);
    check("conv_transpose2d", &ConvTranspose2d::with(4, 3, 3, o).unwrap(), single);
    let o = ConvOptions::default()
        .stride((2, 1))
        .padding((0, 1))
        .groups(2)
        .dilation((1, 2));
    check(
        "conv_transpose2d_groups",
        &ConvTranspose2d::with(4, 6, (2, 3), o).unwrap(),
        single,
    );
}

#[test]
fn pooling() {
    check("maxpool2d", &MaxPool2d::new(3).stride(2).padding(1), single);
    check("maxpool2d_ceil", &MaxPool2d::new(2).ceil_mode(true), single);
    check("avgpool2d", &AvgPool2d::new(3).stride(2).padding(1), single);
    check(
        "avgpool2d_ceil_nopad",
        &AvgPool2d::new(3)
            .stride(2)
            .padding(1)
            .ceil_mode(true)
            .count_include_pad(false),
        single,
    );
    check("adaptive_avgpool2d", &AdaptiveAvgPool2d::new(Pair(3, 2)), single);
}

#[test]
fn normalization() {
    check("batchnorm1d", &BatchNorm1d::new(4), single);
    check(
        "batchnorm2d",
        &BatchNorm2d::with(
            3,
            BatchNormOptions {
                momentum: Some(0.2),
                ..Default::default()
            },
        ),
        single,
    );
    let bn = BatchNorm2d::new(3);
    bn.eval();
    check("batchnorm2d_eval", &bn, single);
    check("layernorm", &LayerNorm::new(&[8]), single);
    check("groupnorm", &GroupNorm::new(2, 4).unwrap(), single);
    check("rmsnorm", &RMSNorm::new(&[8]), single);
}

#[test]
fn embedding() {
    check("embedding", &Embedding::new(10, 4, Some(0)).unwrap(), single);
}

#[test]
fn recurrent() {
    let bi2 = RnnOptions::default().num_layers(2).bidirectional(true);
    let run_h = |m: &dyn Module, ins: &BTreeMap<String, Tensor>, f: &dyn Fn(&Tensor, &Tensor) -> (Tensor, Tensor)| {
        let _ = m;
        let (y, h) = f(&ins["x"], &ins["h0"]);
        vec![("y", y), ("h", h)]
    };
    let rnn = RNN::new(4, 5, bi2.batch_first(true)).unwrap();
    check("rnn", &rnn, |m, ins| {
        run_h(m, ins, &|x, h| rnn.forward_with(x, Some(h)).unwrap())
    });
    let rnn_relu = RNN::relu(4, 5, RnnOptions::default()).unwrap();
    check("rnn_relu", &rnn_relu, |m, ins| {
        run_h(m, ins, &|x, h| rnn_relu.forward_with(x, Some(h)).unwrap())
    });
    let gru = GRU::new(4, 5, bi2.batch_first(true)).unwrap();
    check("gru", &gru, |m, ins| {
        run_h(m, ins, &|x, h| gru.forward_with(x, Some(h)).unwrap())
    });
    for (name, lstm) in [
        ("lstm", LSTM::new(4, 6, bi2).unwrap()),
        (
            "lstm_batch_first",
            LSTM::new(5, 8, RnnOptions::default().batch_first(true)).unwrap(),
        ),
    ] {
        check(name, &lstm, |_, ins| {
            let (y, (h, c)) = lstm.forward_with(&ins["x"], Some((&ins["h0"], &ins["c0"]))).unwrap();
            vec![("y", y), ("h", h), ("c", c)]
        });
    }
}

#[test]
fn attention() {
    let mha = MultiheadAttention::new(8, 2, 0.0, false).unwrap();
    check("mha", &mha, |_, ins| {
        let (l, s) = (ins["q"].shape()[0], ins["k"].shape()[0]);
        // bool mask: true above the diagonal (not allowed)
        let mask = functional::causal_mask(l, s).unwrap().logical_not().unwrap();
        let kpm = Tensor::from_vec(
            vec![
                false, false, false, false, false, true, false, false, false, false, false, false,
            ],
            &[2, 6],
        )
        .unwrap();
        let masks = AttentionMasks {
            attn_mask: Some(&mask),
            key_padding_mask: Some(&kpm),
            is_causal: false,
        };
        let (y, w) = mha
            .forward_with(&ins["q"], &ins["k"], &ins["v"], &masks, true, true)
            .unwrap();
        vec![("y", y), ("w", w.unwrap())]
    });
    let mha = MultiheadAttention::new(8, 4, 0.0, true).unwrap();
    check("mha_self_batch_first", &mha, single);
}

fn enc_opts() -> TransformerOptions {
    TransformerOptions {
        dim_feedforward: 16,
        dropout: 0.0,
        ..Default::default()
    }
}

#[test]
fn transformer_layers() {
    check(
        "encoder_layer",
        &TransformerEncoderLayer::new(8, 2, enc_opts()).unwrap(),
        single,
    );
    let o = TransformerOptions {
        norm_first: true,
        activation: Activation::Gelu,
        batch_first: true,
        ..enc_opts()
    };
    check(
        "encoder_layer_norm_first_gelu",
        &TransformerEncoderLayer::new(8, 2, o).unwrap(),
        single,
    );
    let dec = TransformerDecoderLayer::new(8, 2, enc_opts()).unwrap();
    check("decoder_layer", &dec, |_, ins| {
        let m = TransformerMasks {
            is_causal: true,
            ..Default::default()
        };
        vec![("y", dec.forward_with(&ins["x"], &ins["mem"], &m).unwrap())]
    });
}

#[test]
fn transformer_stacks_reproduce_pytorch() {
    let enc = TransformerEncoder::new(
        TransformerEncoderLayer::new(8, 2, enc_opts()).unwrap(),
        2,
        Some(LayerNorm::new(&[8])),
    )
    .unwrap();
    check("transformer_encoder", &enc, |_, ins| {
        let l = ins["x"].shape()[0];
        // PyTorch's float causal mask (-inf above the diagonal)
        let mask = Tensor::zeros(&[l, l])
            .masked_fill(
                &functional::causal_mask(l, l).unwrap().logical_not().unwrap(),
                f64::NEG_INFINITY,
            )
            .unwrap();
        vec![(
            "y",
            enc.forward_with(
                &ins["x"],
                &TransformerMasks {
                    mask: Some(&mask),
                    ..Default::default()
                },
            )
            .unwrap(),
        )]
    });
    let o = TransformerOptions {
        norm_first: true,
        ..enc_opts()
    };
    let dec = TransformerDecoder::new(TransformerDecoderLayer::new(8, 2, o).unwrap(), 2, None).unwrap();
    check("transformer_decoder", &dec, |_, ins| {
        let m = TransformerMasks {
            is_causal: true,
            ..Default::default()
        };
        vec![("y", dec.forward_with(&ins["x"], &ins["mem"], &m).unwrap())]
    });
}

#[test]
fn activations() {
    let cases: Vec<(&str, Box<dyn Module>)> = vec![
        ("relu", Box::new(ReLU)),
        ("leaky_relu", Box::new(LeakyReLU::new(0.2))),
        ("elu", Box::new(ELU::new(0.7))),
        ("gelu", Box::new(GELU::default())),
        ("gelu_tanh", Box::new(GELU::new(GeluApprox::Tanh))),
        ("silu", Box::new(SiLU)),
        ("sigmoid", Box::new(Sigmoid)),
        ("tanh", Box::new(Tanh)),
        ("softplus", Box::new(Softplus::new(2.0, 5.0))),
        ("softmax", Box::new(Softmax::new(1))),
        ("log_softmax", Box::new(LogSoftmax::new(1))),
    ];
    for (name, m) in cases {
        check(&format!("act_{name}"), m.as_ref(), single);
    }
}
