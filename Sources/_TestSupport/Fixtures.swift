import Layers
import TensorCore

/// A feature map that owns its storage (tests keep it alive as long as they use `map`).
public final class OwnedMap {
    public let buffer: ScratchBuffer
    public let map: FeatureMap

    public init(channels: Int, height: Int, width: Int, batch: Int, values: [Float]? = nil) {
        buffer = ScratchBuffer()
        map = buffer.featureMap(channels: channels, height: height, width: width, batch: batch)
        if let values {
            precondition(values.count == map.count, "fixture: \(values.count) values for \(map.shapeDescription)")
            values.withUnsafeBufferPointer { map.pointer.update(from: $0.baseAddress!, count: map.count) }
        } else {
            map.pointer.update(repeating: 0, count: map.count)
        }
    }

    /// Standard-normal values from `rng`, optionally pushed away from zero (ReLU kinks).
    public static func random(channels: Int, height: Int, width: Int, batch: Int, rng: RNG, avoidZero: Float = 0) -> OwnedMap {
        let n = channels * height * width * batch
        let v = (0..<n).map { _ -> Float in
            let x = Float(rng.normal())
            return x >= 0 ? x + avoidZero : x - avoidZero
        }
        return OwnedMap(channels: channels, height: height, width: width, batch: batch, values: v)
    }

    public var values: [Float] { map.toArray() }
}

/// Fills a parameter with standard-normal values times `scale`.
public func randomize(_ p: Parameter, rng: RNG, scale: Float = 1, offset: Float = 0) {
    for i in 0..<p.count { p.value[i] = Float(rng.normal()) * scale + offset }
}

/// Largest |a - b| over two equal-length arrays.
public func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "lengths \(a.count) vs \(b.count)")
    var m: Float = 0
    for i in 0..<a.count { m = max(m, abs(a[i] - b[i])) }
    return m
}
