import Foundation

/// Integer representations of real tensors, as ONNX QuantizeLinear / DequantizeLinear define
/// them: q = clamp(round_half_even(x / scale) + zeroPoint), x ≈ scale · (q − zeroPoint).

/// Per-tensor affine quantization of an activation to uint8 [0, 255].
public struct AffineQuantization: Codable, Equatable, Sendable {
    public var scale: Float
    public var zeroPoint: Int32
    public static let lower: Int32 = 0, upper: Int32 = 255

    public init(scale: Float, zeroPoint: Int32) {
        precondition(scale > 0 && scale.isFinite && (Self.lower...Self.upper).contains(zeroPoint), "scale \(scale), zero point \(zeroPoint)")
        self.scale = scale
        self.zeroPoint = zeroPoint
    }

    /// The parameters covering [minimum, maximum], widened to hold 0 exactly (zero padding and
    /// ReLU's zero must be representable). With `powerOfTwo` the scale is the next power of two
    /// at or above the exact one, so a requantization between such scales is a shift.
    public init(minimum: Float, maximum: Float, powerOfTwo: Bool = false) {
        let lo = min(minimum, 0), hi = max(maximum, 0)
        var scale = (hi - lo) / Float(Self.upper - Self.lower)
        if !(scale > 0) || !scale.isFinite { scale = 1 }
        if powerOfTwo { scale = Self.powerOfTwo(atLeast: scale) }
        let zero = (Float(Self.lower) - lo / scale).rounded(.toNearestOrEven)
        self.init(scale: scale, zeroPoint: Int32(min(max(zero, Float(Self.lower)), Float(Self.upper))))
    }

    @inline(__always) public func quantize(_ x: Float) -> Int32 {
        Self.clamp((x / scale).rounded(.toNearestOrEven), zeroPoint)
    }

    @inline(__always) public func dequantize(_ q: Int32) -> Float { scale * Float(q - zeroPoint) }

    /// Real values representable: [scale · (0 − z), scale · (255 − z)].
    public var range: ClosedRange<Float> { dequantize(Self.lower)...dequantize(Self.upper) }

    /// clamp(r + offset) to [0, 255] for an already rounded r (NaN reads as the zero point).
    @inline(__always) static func clamp(_ rounded: Float, _ offset: Int32) -> Int32 {
        guard rounded.isFinite else { return rounded.isNaN ? offset : (rounded > 0 ? upper : lower) }
        let r = max(min(rounded, 1e6), -1e6)
        return min(max(Int32(r) + offset, lower), upper)
    }

    public static func powerOfTwo(atLeast x: Float) -> Float {
        var p: Float = 1
        while p < x { p *= 2 }
        while p / 2 >= x { p /= 2 }
        return p
    }
}

/// Symmetric int8 quantization per output channel of a weight tensor [outputs, ...]: values
/// in [−127, 127] (−128 unused, so negation is exact), zero point 0.
public struct ChannelQuantizedWeights: Equatable, Sendable {
    public var values: [Int8]
    public var scales: [Float]
    public var outputs: Int { scales.count }

    public init(values: [Int8], scales: [Float]) {
        precondition(!scales.isEmpty && values.count % scales.count == 0, "\(values.count) weights for \(scales.count) channels")
        self.values = values
        self.scales = scales
    }

    /// scale[o] = max |w[o, ·]| / 127 (1 for an all-zero channel), or its next power of two.
    public init(_ weights: [Float], outputs: Int, powerOfTwo: Bool = false) {
        precondition(outputs > 0 && weights.count % outputs == 0, "\(weights.count) weights for \(outputs) channels")
        let per = weights.count / outputs
        var scales = [Float](repeating: 1, count: outputs)
        var q = [Int8](repeating: 0, count: weights.count)
        for o in 0..<outputs {
            let row = weights[(o * per)..<((o + 1) * per)]
            let m = row.reduce(Float(0)) { max($0, abs($1)) }
            var s = m > 0 && m.isFinite ? m / 127 : 1
            if powerOfTwo { s = AffineQuantization.powerOfTwo(atLeast: s) }
            scales[o] = s
            for k in row.indices {
                q[k] = Int8(max(-127, min(127, (weights[k] / s).rounded(.toNearestOrEven))))
            }
        }
        self.init(values: q, scales: scales)
    }

    public func dequantized() -> [Float] {
        let per = values.count / outputs
        return values.indices.map { scales[$0 / per] * Float(values[$0]) }
    }
}

/// Signal-to-quantization-noise ratio in dB, 10·log10(Σ x² / Σ (x − x̂)²): how much of a
/// tensor survives quantization (∞ when exact; higher is better, ~6 dB per bit).
public func sqnr(reference: [Float], approximation: [Float]) -> Double {
    precondition(reference.count == approximation.count)
    var signal = 0.0, noise = 0.0
    for (x, y) in zip(reference, approximation) {
        signal += Double(x) * Double(x)
        noise += (Double(x) - Double(y)) * (Double(x) - Double(y))
    }
    if noise == 0 { return .infinity }
    return 10 * log10(signal / noise)
}
