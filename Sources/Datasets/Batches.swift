import Foundation
import TensorCore

/// Per-channel standardisation: x = (pixel / 255 - mean[c]) / std[c].
public struct Normalization: Codable, Equatable, Sendable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count && std.allSatisfy { $0 > 0 }, "normalization mean \(mean), std \(std)")
        self.mean = mean
        self.std = std
    }

    /// Mean and (population) standard deviation per channel over a dataset, in Double.
    public static func fit(_ d: Dataset) -> Normalization {
        var mean = [Float](), std = [Float]()
        let plane = d.height * d.width
        for c in 0..<d.channels {
            var s = 0.0, q = 0.0
            for r in 0..<d.count {
                d.withRecord(r) { px in
                    for j in (c * plane)..<((c + 1) * plane) {
                        let v = Double(px[j]) / 255
                        s += v; q += v * v
                    }
                }
            }
            let n = Double(d.count * plane)
            let m = s / n
            mean.append(Float(m))
            std.append(Float(max(q / n - m * m, 1e-12).squareRoot()))
        }
        return Normalization(mean: mean, std: std)
    }
}

/// Training-time augmentation, drawn per image from the loader's RNG.
public struct Augmentation: Codable, Equatable, Sendable {
    /// Random crop back to the original size after zero-padding each side by this much.
    public var cropPadding: Int
    /// Mirror left-right with probability 1/2.
    public var horizontalFlip: Bool
    /// Random erasing (Zhong et al. 2017): with this probability, one rectangle of 2–40 % of
    /// the image, aspect ratio 0.3–3.3, gets uniformly random pixel values (after crop and flip).
    public var erasing: Double

    public init(cropPadding: Int = 0, horizontalFlip: Bool = false, erasing: Double = 0) {
        self.cropPadding = cropPadding
        self.horizontalFlip = horizontalFlip
        self.erasing = erasing
    }

    public static let none = Augmentation()

    enum CodingKeys: String, CodingKey { case cropPadding, horizontalFlip, erasing }

    /// run.json files written before random erasing existed have no `erasing`: off.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cropPadding = try c.decode(Int.self, forKey: .cropPadding)
        horizontalFlip = try c.decode(Bool.self, forKey: .horizontalFlip)
        erasing = try c.decodeIfPresent(Double.self, forKey: .erasing) ?? 0
    }

    /// The rectangle random erasing blanks in a `height` × `width` image, as (top, left,
    /// rows, columns), or nil when this image keeps all its pixels. Draws nothing when
    /// erasing is off, so runs without it keep their random streams.
    func erasedRectangle(height: Int, width: Int, rng: RNG) -> (Int, Int, Int, Int)? {
        guard erasing > 0, rng.uniform() < erasing else { return nil }
        let area = Double(height * width)
        // The paper's rejection sampling: a drawn rectangle that does not fit is drawn again.
        for _ in 0..<10 {
            let target = area * (0.02 + 0.38 * rng.uniform())
            let aspect = Foundation.exp(Foundation.log(0.3) + 2 * Foundation.log(1 / 0.3) * rng.uniform())
            let rows = Int((target * aspect).squareRoot().rounded()), columns = Int((target / aspect).squareRoot().rounded())
            guard rows >= 1, columns >= 1, rows < height, columns < width else { continue }
            return (rng.int(below: height - rows + 1), rng.int(below: width - columns + 1), rows, columns)
        }
        return nil
    }
}

/// Deterministic batching: a shuffled order per epoch drawn from an explicit RNG,
/// batches written into one reused buffer in the engine layout [C, H, W, N].
public final class BatchLoader {
    public let dataset: Dataset
    public let batchSize: Int
    public let normalization: Normalization
    public let augmentation: Augmentation
    public let shuffle: Bool
    public let dropLast: Bool
    private let buffer = ScratchBuffer()
    private var labelBuffer: [Int32] = []
    public private(set) var order: [Int]
    public private(set) var position = 0

    public init(dataset: Dataset, batchSize: Int, normalization: Normalization,
                augmentation: Augmentation = .none, shuffle: Bool, dropLast: Bool) {
        precondition(batchSize > 0, "batch size \(batchSize)")
        precondition(normalization.mean.count == dataset.channels,
                     "normalization has \(normalization.mean.count) channels, data \(dataset.channels)")
        self.dataset = dataset
        self.batchSize = batchSize
        self.normalization = normalization
        self.augmentation = augmentation
        self.shuffle = shuffle
        self.dropLast = dropLast
        order = Array(0..<dataset.count)
    }

    public var batchesPerEpoch: Int {
        dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize
    }

    /// Starts an epoch: a fresh permutation from `rng` when shuffling.
    public func startEpoch(rng: RNG) {
        order = shuffle ? rng.permutation(dataset.count) : Array(0..<dataset.count)
        position = 0
    }

    /// Restores a position inside an epoch (for resuming a run).
    public func restore(order: [Int], position: Int) {
        precondition(order.count == dataset.count && position >= 0 && position <= order.count, "loader state does not fit the dataset")
        self.order = order
        self.position = position
    }

    /// The next batch of this epoch, or nil at its end. The map stays valid until the next
    /// call. `rng` draws the augmentation.
    public func next(rng: RNG) -> (images: FeatureMap, labels: [Int32])? {
        let remaining = order.count - position
        if remaining <= 0 || (dropLast && remaining < batchSize) { return nil }
        let n = min(batchSize, remaining)
        let idx = Array(order[position..<(position + n)])
        position += n
        return (fill(indices: idx, rng: rng), labelBuffer)
    }

    /// Writes the records `indices` (normalised, augmented when `rng` is given) as a map.
    public func fill(indices: [Int], rng: RNG?) -> FeatureMap {
        let d = dataset
        let n = indices.count
        let x = buffer.featureMap(channels: d.channels, height: d.height, width: d.width, batch: n)
        labelBuffer.removeAll(keepingCapacity: true)
        let pad = augmentation.cropPadding
        let plane = d.height * d.width
        let scales = normalization.std.map { 1 / (255 * $0) }
        let shifts = zip(normalization.mean, normalization.std).map { -$0 / $1 }
        for (j, r) in indices.enumerated() {
            labelBuffer.append(d.labels[r])
            var dy = 0, dx = 0, flip = false
            if let rng {
                if pad > 0 { dy = rng.int(below: 2 * pad + 1) - pad; dx = rng.int(below: 2 * pad + 1) - pad }
                if augmentation.horizontalFlip { flip = rng.int(below: 2) == 1 }
            }
            d.withRecord(r) { px in
                for c in 0..<d.channels {
                    let src = px.baseAddress! + c * plane
                    let scale = scales[c], shift = shifts[c]
                    for yy in 0..<d.height {
                        let sy = yy + dy
                        for xx in 0..<d.width {
                            var sx = xx + dx
                            if flip { sx = d.width - 1 - sx }
                            let inside = sy >= 0 && sy < d.height && sx >= 0 && sx < d.width
                            let raw: Float = inside ? Float(src[sy * d.width + sx]) : 0
                            x.pointer[((c * d.height + yy) * d.width + xx) * n + j] = raw * scale + shift
                        }
                    }
                }
            }
            if let rng, let (top, left, rows, columns) = augmentation.erasedRectangle(height: d.height, width: d.width, rng: rng) {
                for c in 0..<d.channels {
                    for yy in top..<(top + rows) {
                        for xx in left..<(left + columns) {
                            x.pointer[((c * d.height + yy) * d.width + xx) * n + j] = Float(255 * rng.uniform()) * scales[c] + shifts[c]
                        }
                    }
                }
            }
        }
        return x
    }

    /// Labels of the batch last written by `fill` or `next`.
    public var labels: [Int32] { labelBuffer }
}
