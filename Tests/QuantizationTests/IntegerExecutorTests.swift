import Networks
import Quantization
import Testing

@Suite("int8 integer path") struct IntegerExecutorTests {
    /// 1×3×3 input → 3×3 convolution (ones, bias 2, zero padding) → average pool → classifier,
    /// with grids chosen so every requantization is exact on paper.
    func handGraph() -> QuantizedGraph {
        var g = InferenceGraph(inputShape: [1, 3, 3], classes: 2)
        let conv = InferenceGraph.Conv(weight: [Float](repeating: 1, count: 9), bias: [2], outputChannels: 1, inputChannels: 1,
                                       kernel: 3, stride: 1, padding: 1, groups: 1, relu: false)
        var x = g.add("conv", .conv(conv), [0], channels: 1)
        x = g.add("pool", .globalAveragePool, [x], channels: 1)
        _ = g.add("fc", .linear(weight: [1, -1.5], bias: [2, 0], outputs: 2, inputs: 1), [x], channels: 2)
        let activations = [AffineQuantization(scale: 1, zeroPoint: 0), AffineQuantization(scale: 4, zeroPoint: 10), AffineQuantization(scale: 4, zeroPoint: 0)]
        let layers: [Int: QuantizedLayer] = [
            0: QuantizedLayer(weights: ChannelQuantizedWeights(values: [Int8](repeating: 1, count: 9), scales: [1]), bias: [2], padValue: nil),
            2: QuantizedLayer(weights: ChannelQuantizedWeights(values: [2, -3], scales: [0.5, 0.5]), bias: [1, 0], padValue: nil),
        ]
        return QuantizedGraph(graph: g, activations: activations, layers: layers, settings: QuantizationSettings())
    }

    @Test("a hand-computed network: int32 sums, round half to even, zero points, pooling, classifier")
    func golden() {
        let q = handGraph()
        var seen: [Int: [UInt8]] = [:]
        let logits = IntegerExecutor.run(q, input: [1, 2, 3, 4, 5, 6, 7, 8, 9], batch: 1) { seen[$0] = $1 }
        // Neighbourhood sums + 2 = [14, 23, 18, 29, 47, 35, 26, 41, 30]; / 4, half to even, + 10.
        #expect(seen[1] == [14, 16, 14, 17, 22, 19, 16, 20, 18])
        // (156 − 9·10) · 4 / (4 · 9) = 7.33 → 7.
        #expect(seen[2] == [7])
        // (1 + 2·7) · 4 · 0.5 and (0 − 3·7) · 4 · 0.5.
        #expect(logits == [30, -42])
        // Two images in one batch give each its own answer.
        let two = IntegerExecutor.run(q, input: [1, 2, 3, 4, 5, 6, 7, 8, 9] + [UInt8](repeating: 0, count: 9), batch: 2)
        #expect(Array(two[0..<2]) == [30, -42])
        // All zeros: sums 2 → 0.5 → 0 (even) → 10 everywhere, pooled 0, logits (1 + 0) · 2 and 0.
        #expect(Array(two[2..<4]) == [2, 0])
    }

    @Test("the float executor and a quantized graph calibrated on the same images agree closely")
    func floatAgainstInteger() throws {
        var g = InferenceGraph(inputShape: [1, 6, 6], classes: 3)
        var w = [Float](), b: [Float] = [-0.15, -0.05, 0.05, 0.15], dw = [Float]()
        for i in 0..<(4 * 9) {
            let k = Float((i * 37) % 11)
            w.append(k / 11 - 0.45)
            let j = Float((i * 13) % 7)
            dw.append(j / 7 - 0.4)
        }
        var x = g.add("conv", .conv(.init(weight: w, bias: b, outputChannels: 4, inputChannels: 1, kernel: 3, stride: 1, padding: 1,
                                          groups: 1, relu: true, padValue: [0.3])), [0], channels: 4)
        x = g.add("dw", .conv(.init(weight: dw, bias: [0, 0.1, -0.1, 0.2], outputChannels: 4, inputChannels: 4, kernel: 3, stride: 2,
                                    padding: 1, groups: 4, relu: false)), [x], channels: 4)
        let a = g.add("left", .slice(lower: 0, upper: 2), [x], channels: 2)
        let c = g.add("right", .slice(lower: 2, upper: 4), [x], channels: 2)
        let s = g.add("sum", .add, [a, c], channels: 2)
        let r = g.add("relu", .relu, [s], channels: 2)
        let m = g.add("mix", .interleave, [r, a], channels: 4)
        x = g.add("pool", .globalAveragePool, [m], channels: 4)
        let fc: [Float] = (0..<12).map { i in Float(i % 5) - 2 }
        _ = g.add("fc", .linear(weight: fc, bias: [0.1, 0, -0.1], outputs: 3, inputs: 4), [x], channels: 3)
        let images: [UInt8] = (0..<(40 * 36)).map { i in UInt8((i * 7919) % 256) }
        let floats = images.map { Float($0) / 255 }
        var stats = [ActivationStatistics](repeating: ActivationStatistics(), count: g.nodes.count)
        _ = FloatExecutor.run(g, input: floats, batch: 40) { stats[$0].observeRange($1) }
        let q = try QuantizedGraph(graph: g, ranges: stats.map { $0.range(.minmax) }, settings: QuantizationSettings())
        let f = FloatExecutor.run(g, input: floats, batch: 40)
        let i = IntegerExecutor.run(q, input: images, batch: 40)
        #expect(sqnr(reference: f, approximation: i) > 25, "logits SQNR \(sqnr(reference: f, approximation: i))")
        // Slices keep their input's grid; a ReLU after a sum gets its own, from zero.
        #expect(q.activations[a] == q.activations[2] && q.activations[c] == q.activations[2])
        #expect(q.activations[r].zeroPoint == 0 && q.activations[s].zeroPoint > 0)
    }
}
