import Foundation

/// An in-memory image classification set: 8-bit pixels, NCHW per record, labels 0..<classes.
public struct Dataset: Sendable {
    public var name: String
    public var channels: Int
    public var height: Int
    public var width: Int
    public var classes: Int
    /// count * channels * height * width bytes, record after record (each NCHW-planar).
    public var pixels: [UInt8]
    public var labels: [Int32]

    public init(name: String, channels: Int, height: Int, width: Int, classes: Int, pixels: [UInt8], labels: [Int32]) {
        precondition(pixels.count == labels.count * channels * height * width,
                     "dataset \(name): \(pixels.count) pixels for \(labels.count) records of \(channels)x\(height)x\(width)")
        self.name = name
        self.channels = channels
        self.height = height
        self.width = width
        self.classes = classes
        self.pixels = pixels
        self.labels = labels
    }

    public var count: Int { labels.count }
    public var recordSize: Int { channels * height * width }

    /// Records `range` as a new dataset.
    public func subset(_ range: Range<Int>) -> Dataset {
        Dataset(name: name, channels: channels, height: height, width: width, classes: classes,
                pixels: Array(pixels[(range.lowerBound * recordSize)..<(range.upperBound * recordSize)]),
                labels: Array(labels[range]))
    }

    /// Holds out the last `validation` records (the test file stays separate):
    /// returns (train, validation).
    public func splitValidation(_ validation: Int) throws -> (train: Dataset, validation: Dataset) {
        guard validation > 0 && validation < count else {
            throw DataError.invalidSplit("validation size \(validation) must be in 1..<\(count) (the training file has \(count) records)")
        }
        return (subset(0..<(count - validation)), subset((count - validation)..<count))
    }

    /// Loads an images/labels IDX pair (MNIST, Fashion-MNIST), gzip or raw.
    public static func loadIDX(images: String, labels: String, classes: Int = 10, name: String = "idx") throws -> Dataset {
        let img = try IDXArray.read(images, dimensions: 3)
        let lab = try IDXArray.read(labels, dimensions: 1)
        guard img.dimensions[0] == lab.dimensions[0] else {
            throw DataError.countMismatch(images: images, imageCount: img.dimensions[0], labels: labels, labelCount: lab.dimensions[0])
        }
        let ls = try lab.bytes.enumerated().map { i, b -> Int32 in
            guard Int(b) < classes else { throw DataError.badLabel(path: labels, index: i, label: Int(b), classes: classes) }
            return Int32(b)
        }
        return Dataset(name: name, channels: 1, height: img.dimensions[1], width: img.dimensions[2], classes: classes,
                       pixels: img.bytes, labels: ls)
    }

    /// Loads CIFAR-10 binary batch files: records of 1 label byte + 3072 bytes (R, G, B
    /// planes of 32x32), concatenated in the order given.
    public static func loadCIFAR10(files: [String], name: String = "cifar10") throws -> Dataset {
        let record = 1 + 3 * 32 * 32
        var pixels: [UInt8] = [], labels: [Int32] = []
        for path in files {
            // A CIFAR-10 batch file is 10 000 records (30.7 MB); allow six times that.
            let bytes = try FileBytes.read(path, limit: 60_000 * record)
            guard !bytes.isEmpty && bytes.count % record == 0 else {
                let expected = max(1, (bytes.count + record - 1) / record) * record
                throw DataError.truncated(path: path, expectedBytes: expected, foundBytes: bytes.count)
            }
            pixels.reserveCapacity(pixels.count + bytes.count)
            for r in 0..<(bytes.count / record) {
                let o = r * record
                guard bytes[o] < 10 else { throw DataError.badLabel(path: path, index: r, label: Int(bytes[o]), classes: 10) }
                labels.append(Int32(bytes[o]))
                pixels.append(contentsOf: bytes[(o + 1)..<(o + record)])
            }
        }
        return Dataset(name: name, channels: 3, height: 32, width: 32, classes: 10, pixels: pixels, labels: labels)
    }
}

/// Where the data comes from, as a value (parsed from `--data`).
public enum DataSource: Equatable, Sendable, CustomStringConvertible {
    /// A directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
    case idx(name: String, directory: String)
    /// A directory holding data_batch_{1..5}.bin and test_batch.bin.
    case cifar10(directory: String)
    /// Generated, separable; for tests and quick smoke runs.
    case synthetic(SyntheticSpec)

    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    /// "fashion-mnist", "mnist:DIR", "fashion-mnist:DIR", "cifar10:DIR", "synthetic".
    public init(parsing text: String) throws {
        // "" and ":" split into no parts at all.
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let kind = parts[0].lowercased()
        let dir = parts.count > 1 && !parts[1].isEmpty ? parts[1] : nil
        switch kind {
        case "fashion-mnist", "fashionmnist", "fmnist":
            self = .idx(name: "fashion-mnist", directory: dir ?? DataSource.fashionMNISTDirectory)
        case "mnist", "idx":
            guard let dir else { throw DataError.unknownDataset("'\(text)': give the directory, e.g. mnist:/path/to/mnist") }
            self = .idx(name: kind, directory: dir)
        case "cifar10", "cifar-10":
            guard let dir else { throw DataError.unknownDataset("'\(text)': give the directory, e.g. cifar10:/path/to/cifar-10-batches-bin") }
            self = .cifar10(directory: dir)
        case "synthetic":
            self = .synthetic(SyntheticSpec())
        default:
            throw DataError.unknownDataset("unknown data source '\(text.prefix(80))' (expected fashion-mnist[:DIR], mnist:DIR, cifar10:DIR or synthetic)")
        }
    }

    public var description: String {
        switch self {
        case let .idx(name, dir): return "\(name):\(dir)"
        case let .cifar10(dir): return "cifar10:\(dir)"
        case .synthetic: return "synthetic"
        }
    }

    /// (training file, test file) datasets.
    public func load() throws -> (train: Dataset, test: Dataset) {
        switch self {
        case let .idx(name, dir):
            func file(_ stem: String) throws -> String {
                for candidate in [stem + ".gz", stem] {
                    let p = (dir as NSString).appendingPathComponent(candidate)
                    if FileManager.default.fileExists(atPath: p) { return p }
                }
                throw DataError.missingFile(path: (dir as NSString).appendingPathComponent(stem + ".gz"))
            }
            let train = try Dataset.loadIDX(images: file("train-images-idx3-ubyte"), labels: file("train-labels-idx1-ubyte"), name: name)
            let test = try Dataset.loadIDX(images: file("t10k-images-idx3-ubyte"), labels: file("t10k-labels-idx1-ubyte"), name: name)
            return (train, test)
        case let .cifar10(dir):
            let path = { (dir as NSString).appendingPathComponent($0) }
            let train = try Dataset.loadCIFAR10(files: (1...5).map { path("data_batch_\($0).bin") })
            let test = try Dataset.loadCIFAR10(files: [path("test_batch.bin")])
            return (train, test)
        case let .synthetic(spec):
            return (spec.generate(count: spec.trainCount, seed: spec.seed), spec.generate(count: spec.testCount, seed: spec.seed &+ 1))
        }
    }
}
