import Datasets
import Foundation
import TensorCore
import Testing
import _TestSupport

@Suite struct BatchTests {
    let data = SyntheticSpec().generate(count: 300, seed: 5)

    @Test func splitAndNormalization() throws {
        let (train, val) = try data.splitValidation(100)
        #expect(train.count == 200 && val.count == 100 && val.labels == Array(data.labels[200...]))
        #expect(throws: DataError.self) { _ = try data.splitValidation(300) }
        let norm = Normalization.fit(train)
        let loader = BatchLoader(dataset: train, batchSize: 200, normalization: norm, shuffle: false, dropLast: false)
        let x = loader.fill(indices: Array(0..<200), rng: nil)
        let v = x.toArray()
        let mean = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
        let variance = v.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(v.count)
        #expect(abs(mean) < 1e-4 && abs(variance - 1) < 1e-3)
    }

    @Test func sameSeedSameBatches() {
        func batches(seed: UInt64) -> [[Float]] {
            let loader = BatchLoader(dataset: data, batchSize: 64, normalization: Normalization(mean: [0.5], std: [0.25]),
                                     augmentation: Augmentation(cropPadding: 2, horizontalFlip: true), shuffle: true, dropLast: true)
            let rng = RNG(seed: seed)
            var out: [[Float]] = []
            for _ in 0..<2 {
                loader.startEpoch(rng: rng)
                while let b = loader.next(rng: rng) { out.append(b.images.toArray() + b.labels.map(Float.init)) }
            }
            return out
        }
        let a = batches(seed: 3)
        #expect(a.count == 8)                      // 300 / 64 = 4 full batches per epoch, twice
        #expect(a == batches(seed: 3))
        #expect(a != batches(seed: 4))
    }

    @Test func augmentationShiftsAndMirrors() {
        var spec = SyntheticSpec(); spec.height = 3; spec.width = 3
        let one = Dataset(name: "t", channels: 1, height: 3, width: 3, classes: 2, pixels: [0, 51, 102, 153, 204, 255, 0, 0, 255], labels: [1])
        let norm = Normalization(mean: [0], std: [1])
        let plain = BatchLoader(dataset: one, batchSize: 1, normalization: norm, shuffle: false, dropLast: false)
        #expect(plain.fill(indices: [0], rng: RNG(seed: 1)).toArray().map { ($0 * 255).rounded() } == [0, 51, 102, 153, 204, 255, 0, 0, 255])
        let flip = BatchLoader(dataset: one, batchSize: 1, normalization: norm, augmentation: Augmentation(horizontalFlip: true),
                               shuffle: false, dropLast: false)
        var seen = Set<[Float]>()
        let rng = RNG(seed: 2)
        for _ in 0..<20 { seen.insert(flip.fill(indices: [0], rng: rng).toArray().map { ($0 * 255).rounded() }) }
        #expect(seen == [[0, 51, 102, 153, 204, 255, 0, 0, 255], [102, 51, 0, 255, 204, 153, 255, 0, 0]])
        let crop = BatchLoader(dataset: one, batchSize: 1, normalization: norm, augmentation: Augmentation(cropPadding: 1),
                               shuffle: false, dropLast: false)
        var shifted = Set<[Float]>()
        for _ in 0..<60 { shifted.insert(crop.fill(indices: [0], rng: rng).toArray().map { ($0 * 255).rounded() }) }
        #expect(shifted.count == 9)                // 3 x 3 offsets
        #expect(shifted.contains([204, 255, 0, 0, 255, 0, 0, 0, 0]))   // shifted up-left by one, zero-padded
    }

    @Test func randomErasingBlanksOneRectangleOfTheRightSize() throws {
        // A constant 20 x 20 image, 2 channels: erased pixels are the ones that changed.
        let size = 20, plane = size * size
        let image = Dataset(name: "t", channels: 2, height: size, width: size, classes: 2,
                            pixels: [UInt8](repeating: 128, count: 2 * plane), labels: [0])
        let norm = Normalization(mean: [0, 0], std: [1, 1])
        let loader = BatchLoader(dataset: image, batchSize: 1, normalization: norm, augmentation: Augmentation(erasing: 0.5),
                                 shuffle: false, dropLast: false)
        let clean = loader.fill(indices: [0], rng: nil).toArray()[0]
        let rng = RNG(seed: 9)
        var erasedImages = 0, fractions: [Double] = []
        for _ in 0..<400 {
            let v = loader.fill(indices: [0], rng: rng).toArray()
            let changed = (0..<plane).filter { v[$0] != clean }
            #expect(changed == (0..<plane).filter { v[plane + $0] != clean })   // every channel, same pixels
            guard !changed.isEmpty else { continue }
            erasedImages += 1
            let rows = changed.map { $0 / size }, columns = changed.map { $0 % size }
            let box = (rows.max()! - rows.min()! + 1) * (columns.max()! - columns.min()! + 1)
            #expect(box == changed.count)                                   // one full rectangle
            #expect(v.allSatisfy { $0 >= 0 && $0 <= 1 })                    // random pixel values, normalized
            fractions.append(Double(changed.count) / Double(plane))
        }
        #expect(erasedImages > 160 && erasedImages < 240)                   // probability 0.5
        #expect(fractions.min()! >= 0.01 && fractions.max()! <= 0.45)       // 2–40 % of the image, rounded
        #expect(fractions.reduce(0, +) / Double(fractions.count) > 0.12)    // areas spread over the range

        // Off, it draws nothing: the random stream (and so every older run) is unchanged.
        let off = BatchLoader(dataset: image, batchSize: 1, normalization: norm, shuffle: false, dropLast: false)
        let a = RNG(seed: 4), b = RNG(seed: 4)
        _ = off.fill(indices: [0], rng: a)
        #expect(a.uniform() == b.uniform())
        // A run.json written before erasing existed decodes with it off.
        let old = try JSONDecoder().decode(Augmentation.self, from: Data(#"{"cropPadding": 2, "horizontalFlip": true}"#.utf8))
        #expect(old == Augmentation(cropPadding: 2, horizontalFlip: true, erasing: 0))
    }
}
