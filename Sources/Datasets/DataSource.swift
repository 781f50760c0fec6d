import Foundation

/// Where the data comes from, as a value (parsed from `--data`).
public enum DataSource: Equatable, Sendable, CustomStringConvertible {
    /// A directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
    case idx(name: String, directory: String)
    /// A directory holding data_batch_{1..5}.bin and test_batch.bin.
    case cifar10(directory: String)
    /// Generated, separable; for tests and quick smoke runs.
    case synthetic(SyntheticSpec)
    /// Class folders of PNG / JPEG images (torchvision's ImageFolder layout): DIR/<class>/…,
    /// or DIR/train/<class>/… with optional DIR/val/… and DIR/test/….
    case folder(directory: String)
    /// NumPy arrays: a .npz with x_train / y_train (optionally x_val, y_val, x_test, y_test),
    /// or .npy files: training images and labels, optionally test images and labels.
    case npz(path: String)
    case npy(paths: [String])

    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    /// "fashion-mnist", "mnist:DIR", "fashion-mnist:DIR", "cifar10:DIR", "folder:DIR", "synthetic".
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
        case "npz":
            guard let dir else { throw DataError.unknownDataset("'\(text)': give the file, e.g. npz:/path/to/data.npz") }
            self = .npz(path: dir)
        case "npy":
            let paths = (dir ?? "").split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard paths.count == 2 || paths.count == 4, paths.allSatisfy({ !$0.isEmpty }) else {
                throw DataError.unknownDataset("'\(text.prefix(200))': expected npy:IMAGES.npy,LABELS.npy[,TEST_IMAGES.npy,TEST_LABELS.npy]")
            }
            self = .npy(paths: paths)
        case "folder", "images":
            guard let dir else { throw DataError.unknownDataset("'\(text)': give the directory, e.g. folder:/path/to/images (class folders of PNG/JPEG files)") }
            self = .folder(directory: dir)
        default:
            throw DataError.unknownDataset("unknown data source '\(text.prefix(80))' (expected fashion-mnist[:DIR], mnist:DIR, cifar10:DIR, folder:DIR, npz:FILE, npy:IMAGES,LABELS or synthetic)")
        }
    }

    public var description: String {
        switch self {
        case let .idx(name, dir): return "\(name):\(dir)"
        case let .cifar10(dir): return "cifar10:\(dir)"
        case .synthetic: return "synthetic"
        case let .folder(dir): return "folder:\(dir)"
        case let .npz(path): return "npz:\(path)"
        case let .npy(paths): return "npy:" + paths.joined(separator: ",")
        }
    }

    /// (training file, test file) datasets of the sources with a fixed shape and both files.
    public func load() throws -> (train: Dataset, test: Dataset) {
        switch self {
        case .folder, .npz, .npy:
            throw DataError.unknownDataset("\(self): images fitted to a space are read through open(channels:size:)")
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

/// The splits a source holds: the training file always; a validation split when the source
/// has its own (DIR/val), else it is held out of the training file; a test split when it has one.
public struct DataFiles: Sendable {
    public var train: Dataset
    public var validation: Dataset?
    public var test: Dataset?
    /// Files skipped as unreadable (--skip-bad-images), every split together.
    public var skipped: Int
}

extension DataSource {
    /// Every split of the source; image folders are decoded (once: see `DecodeCache`) to
    /// `channels` x `size` x `size`. Every split's folders are listed and checked (against
    /// `classes` too, when given) before any image is decoded.
    public func open(channels: Int, size: Int, classes: Int? = nil, options: ImageOptions = ImageOptions(),
                     log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) throws -> DataFiles {
        let arrays: (ArraySource.Split, ArraySource.Split?, ArraySource.Split?)
        switch self {
        case .folder, .npz, .npy:
            guard channels == 1 || channels == 3 else {
                throw DataError.unknownDataset("\(self): images become 1 (grey) or 3 (RGB) channels; the space takes \(channels)")
            }
        default: break
        }
        let fitter = ImageFitter(channels: channels, height: size, width: size, fit: options.fit)
        switch self {
        case let .folder(dir):
            return try openFolder(dir, fitter: fitter, classes: classes, options: options, log: log)
        case let .npz(path):
            arrays = try ArraySource.splits(npz: path)
        case let .npy(paths):
            let read = { (i: Int) in try NumPyArray.parse(FileBytes.readPlain(paths[i], limit: NPZ.fileLimit), path: paths[i]) }
            arrays = (ArraySource.Split(images: try read(0), labels: try read(1), name: paths[0]), nil,
                      paths.count == 4 ? ArraySource.Split(images: try read(2), labels: try read(3), name: paths[2]) : nil)
        default:
            let (train, test) = try load()
            return DataFiles(train: train, validation: nil, test: test, skipped: 0)
        }
        let all = [arrays.0] + [arrays.1, arrays.2].compactMap { $0 }
        // Labels may leave the last classes out (a small evaluation set), never exceed the space's.
        let found = try ArraySource.classes(all)
        if let classes, found > classes {
            throw DataError.badArray(path: arrays.0.name, reason: "labels of \(found) classes, the space has \(classes) (set `classes: \(found)` in the space file)")
        }
        let k = classes ?? found
        return DataFiles(train: try ArraySource.dataset(arrays.0, fitter: fitter, classes: k),
                         validation: try arrays.1.map { try ArraySource.dataset($0, fitter: fitter, classes: k) },
                         test: try arrays.2.map { try ArraySource.dataset($0, fitter: fitter, classes: k) }, skipped: 0)
    }

    func openFolder(_ dir: String, fitter: ImageFitter, classes: Int?, options: ImageOptions, log: (String) -> Void) throws -> DataFiles {
        let channels = fitter.channels, size = fitter.height
        func sub(_ name: String) -> String? {
            var isDir: ObjCBool = false
            let p = (dir as NSString).appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: p, isDirectory: &isDir) && isDir.boolValue ? p : nil
        }
        let trainRoot = sub("train") ?? dir
        let split = trainRoot != dir
        let trainListing = try FolderListing.list(trainRoot)
        let names = trainListing.classNames
        if let classes, classes != names.count {
            throw DataError.badFolder(path: trainRoot, reason: "\(names.count) class folders, the space has \(classes) classes (set `classes: \(names.count)` in the space file)")
        }
        let valListing = try split ? sub("val").map { try FolderListing.list($0, expected: names) } : nil
        let testListing = try split ? sub("test").map { try FolderListing.list($0, expected: names) } : nil
        let cache = DecodeCache.directory(for: dir)
        func read(_ listing: FolderListing, _ name: String) throws -> DecodeCache.Loaded {
            let file = (cache as NSString).appendingPathComponent("\(name)-\(channels)x\(size)x\(size)-\(options.fit.rawValue).bin")
            return try DecodeCache.load(listing, fitter: fitter, skipBad: options.skipBadImages, cacheFile: file, name: "folder", log: log)
        }
        var train = try read(trainListing, split ? "train" : "all")
        train.dataset.holdout = .stratified(seed: 0)
        let validation = try valListing.map { try read($0, "val") }
        let test = try testListing.map { try read($0, "test") }
        let skipped = train.skipped.count + (validation?.skipped.count ?? 0) + (test?.skipped.count ?? 0)
        if skipped > 0 { log("\(self): skipped \(skipped) bad files (--skip-bad-images)") }
        return DataFiles(train: train.dataset, validation: validation?.dataset, test: test?.dataset, skipped: skipped)
    }
}
