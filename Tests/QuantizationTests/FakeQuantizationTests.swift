import Layers
import Quantization
import TensorCore
import Testing

@Suite("fake quantization matches the int8 model") struct FakeQuantizationTests {
    @Test("a fake-quantized activation equals quantize then dequantize on the same grid")
    func activations() {
        let rng = RNG(seed: 17)
        for (lo, hi) in [(Float(-1.2), Float(3.1)), (0, 6), (-4, 0.2)] {
            let a = AffineQuantization(minimum: lo, maximum: hi)
            let f = FakeQuantization(minimum: lo, maximum: hi)
            #expect(f.scale == a.scale && f.zeroPoint == a.zeroPoint)
            #expect(f.lower == a.range.lowerBound && f.upper == a.range.upperBound)
            for _ in 0..<5000 {
                let y = Float(rng.uniform()) * (hi - lo) * 1.4 + lo - (hi - lo) * 0.2
                #expect(f.apply(y) == a.dequantize(a.quantize(y)), "\(y)")
            }
        }
    }

    @Test("fake-quantized weights are the int8 weights' dequantized values, per output channel")
    func weights() {
        let rng = RNG(seed: 3)
        var w = (0..<(6 * 27)).map { _ in Float(rng.normal()) * 0.2 }
        for k in 27..<54 { w[k] = 0 }
        let q = ChannelQuantizedWeights(w, outputs: 6)
        w.withUnsafeMutableBufferPointer { FakeQuantization.weights($0.baseAddress!, count: $0.count, rows: 6) }
        #expect(w == q.dequantized())
    }
}
