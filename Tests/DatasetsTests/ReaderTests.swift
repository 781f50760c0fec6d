import Datasets
import Foundation
import TensorCore
import Testing
import _TestSupport

/// Writes small generated files into a fresh temporary directory.
final class TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "pare-data-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String, _ bytes: [UInt8]) -> String {
        let p = (path as NSString).appendingPathComponent(name)
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }
    func gzip(_ p: String) -> String {
        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: "/bin/gzip")
        proc.arguments = ["-kf", p]
        try! proc.run()
        proc.waitUntilExit()
        return p + ".gz"
    }
}

func idxImages(count: Int, h: Int = 4, w: Int = 3) -> IDXArray {
    IDXArray(dimensions: [count, h, w], bytes: (0..<(count * h * w)).map { UInt8($0 % 251) })
}

func idxLabels(_ labels: [UInt8]) -> IDXArray { IDXArray(dimensions: [labels.count], bytes: labels) }

func message(_ body: () throws -> Void) -> String {
    do { try body() } catch { return "\(error)" }
    return "no error"
}

@Suite struct IDXTests {
    @Test func readsRawAndGzip() throws {
        let dir = TempDir()
        let img = dir.file("img", idxImages(count: 5).encoded())
        let lab = dir.file("lab", idxLabels([0, 1, 2, 9, 3]).encoded())
        let raw = try Dataset.loadIDX(images: img, labels: lab)
        #expect(raw.count == 5 && raw.height == 4 && raw.width == 3 && raw.labels == [0, 1, 2, 9, 3])
        #expect(raw.pixels == (0..<60).map { UInt8($0 % 251) })
        let gz = try Dataset.loadIDX(images: dir.gzip(img), labels: dir.gzip(lab))
        #expect(gz.pixels == raw.pixels && gz.labels == raw.labels)
    }

    @Test func badFilesGiveOneLineErrorsNamingTheFile() {
        let dir = TempDir()
        let good = idxImages(count: 5).encoded()
        let img = dir.file("img", good)
        let lab = dir.file("lab", idxLabels([0, 1, 2, 3, 4]).encoded())
        // Truncated payload.
        let cut = dir.file("cut", Array(good.dropLast(7)))
        var m = message { _ = try Dataset.loadIDX(images: cut, labels: lab) }
        #expect(m.contains(cut) && m.contains("truncated") && m.contains("expected \(good.count) bytes"), "\(m)")
        // Truncated gzip stream.
        let gz = try! Data(contentsOf: URL(fileURLWithPath: dir.gzip(img)))
        let cutGz = dir.file("cut.gz", Array(gz.prefix(gz.count - 12)))
        m = message { _ = try Dataset.loadIDX(images: cutGz, labels: lab) }
        #expect(m.contains(cutGz) && (m.contains("gzip") || m.contains("truncated")), "\(m)")
        // Wrong magic (a label file given as images).
        m = message { _ = try Dataset.loadIDX(images: lab, labels: lab) }
        #expect(m.contains(lab) && m.contains("magic") && m.contains("0x00000803"), "\(m)")
        // Count mismatch.
        let lab4 = dir.file("lab4", idxLabels([0, 1, 2, 3]).encoded())
        m = message { _ = try Dataset.loadIDX(images: img, labels: lab4) }
        #expect(m.contains(lab4) && m.contains("4 labels") && m.contains("5 images"), "\(m)")
        // Missing file.
        m = message { _ = try Dataset.loadIDX(images: dir.path + "/nope", labels: lab) }
        #expect(m == "\(dir.path)/nope: file not found")
        // Label outside the classes.
        let bad = dir.file("bad", idxLabels([0, 1, 2, 3, 12]).encoded())
        m = message { _ = try Dataset.loadIDX(images: img, labels: bad) }
        #expect(m.contains(bad) && m.contains("label 12"), "\(m)")
        #expect(!m.contains("\n"))
    }

    @Test func directoryLoaderFindsStandardNames() throws {
        let dir = TempDir()
        _ = dir.gzip(dir.file("train-images-idx3-ubyte", idxImages(count: 6, h: 28, w: 28).encoded()))
        _ = dir.gzip(dir.file("train-labels-idx1-ubyte", idxLabels([1, 2, 3, 4, 5, 6]).encoded()))
        _ = dir.file("t10k-images-idx3-ubyte", idxImages(count: 2, h: 28, w: 28).encoded())
        _ = dir.file("t10k-labels-idx1-ubyte", idxLabels([7, 8]).encoded())
        let (train, test) = try DataSource(parsing: "mnist:" + dir.path).load()
        #expect(train.count == 6 && test.count == 2 && test.labels == [7, 8])
        #expect(message { _ = try DataSource(parsing: "imagenet") }.contains("unknown data source"))
        let m = message { _ = try DataSource(parsing: "fashion-mnist:" + dir.path + "/missing").load() }
        #expect(m.contains("missing/train-images-idx3-ubyte.gz: file not found"), "\(m)")
    }
}

@Suite struct CIFARTests {
    func record(label: UInt8, seed: Int) -> [UInt8] { [label] + (0..<3072).map { UInt8(($0 * 7 + seed) % 256) } }

    @Test func readsRecordsAndRejectsTruncation() throws {
        let dir = TempDir()
        let f1 = dir.file("a.bin", record(label: 3, seed: 1) + record(label: 9, seed: 2))
        let f2 = dir.file("b.bin", record(label: 0, seed: 3))
        let d = try Dataset.loadCIFAR10(files: [f1, f2])
        #expect(d.count == 3 && d.labels == [3, 9, 0] && d.channels == 3 && d.height == 32)
        // Planes stay R, G, B: pixel (c, y, x) of record 1 is byte 1 + c*1024 + y*32 + x of its record.
        #expect(d.pixels[3072 + 1024 + 5] == UInt8(((1024 + 5) * 7 + 2) % 256))
        let cut = dir.file("cut.bin", Array(record(label: 1, seed: 0).dropLast(100)))
        let m = message { _ = try Dataset.loadCIFAR10(files: [cut]) }
        #expect(m.contains(cut) && m.contains("truncated") && m.contains("3073"), "\(m)")
        let badLabel = dir.file("lab.bin", record(label: 10, seed: 0))
        #expect(message { _ = try Dataset.loadCIFAR10(files: [badLabel]) }.contains("label 10"))
    }
}

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
}
