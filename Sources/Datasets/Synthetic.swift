import TensorCore

/// A generated, learnable set: each class has a random prototype image; a sample is its
/// class prototype plus pixel noise, clamped to bytes. With moderate noise it is
/// linearly separable, so a small network must reach high accuracy on it.
public struct SyntheticSpec: Equatable, Sendable {
    public var channels = 1
    public var height = 28
    public var width = 28
    public var classes = 10
    public var noise = 40.0
    public var trainCount = 2048
    public var testCount = 512
    public var seed: UInt64 = 1

    public init() {}

    public func generate(count: Int, seed sampleSeed: UInt64) -> Dataset {
        let protoRNG = RNG(seed: seed)   // prototypes depend on the spec's seed only
        let size = channels * height * width
        let prototypes = (0..<classes).map { _ in (0..<size).map { _ in protoRNG.uniform() * 255 } }
        let rng = RNG(seed: sampleSeed &* 7919 &+ 17)
        var pixels = [UInt8](repeating: 0, count: count * size)
        var labels = [Int32](repeating: 0, count: count)
        for i in 0..<count {
            let c = rng.int(below: classes)
            labels[i] = Int32(c)
            for j in 0..<size {
                let v = prototypes[c][j] + rng.normal() * noise
                pixels[i * size + j] = UInt8(max(0, min(255, v.rounded())))
            }
        }
        return Dataset(name: "synthetic", channels: channels, height: height, width: width, classes: classes,
                       pixels: pixels, labels: labels)
    }
}
