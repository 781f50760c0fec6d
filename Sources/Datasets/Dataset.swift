import Foundation
import TensorCore

/// An image classification set: 8-bit pixels, NCHW per record, labels 0..<classes. The
/// pixels live in a `PixelStorage` (owned memory or a mapped decode cache); subsets and
/// splits share it and list which of its records they hold, so no split copies images.
public struct Dataset: Sendable {
    public var name: String
    public var channels: Int
    public var height: Int
    public var width: Int
    public var classes: Int
    public var labels: [Int32]
    /// The classes' names when the source has them (an image folder's class folders).
    public var classNames: [String]?
    /// How `splitValidation` holds images out.
    public var holdout = Holdout.last
    public let storage: PixelStorage
    private var rows: Rows

    /// The last records (IDX, CIFAR: the file's order is the split), or a seeded stratified
    /// choice (image folders and arrays, whose order follows file names or the user's arrays).
    public enum Holdout: Equatable, Sendable {
        case last
        case stratified(seed: UInt64)
    }

    /// Which records of the storage this dataset holds, in order.
    enum Rows: Sendable {
        case contiguous(first: Int)
        case list([Int])
    }

    public init(name: String, channels: Int, height: Int, width: Int, classes: Int, pixels: [UInt8], labels: [Int32]) {
        precondition(pixels.count == labels.count * channels * height * width,
                     "dataset \(name): \(pixels.count) pixels for \(labels.count) records of \(channels)x\(height)x\(width)")
        self.init(name: name, channels: channels, height: height, width: width, classes: classes,
                  storage: PixelStorage(copying: pixels), labels: labels)
    }

    /// Records 0..<labels.count of `storage` (which holds at least that many).
    public init(name: String, channels: Int, height: Int, width: Int, classes: Int, storage: PixelStorage, labels: [Int32]) {
        precondition(storage.count >= labels.count * channels * height * width,
                     "dataset \(name): \(storage.count) bytes of storage for \(labels.count) records of \(channels)x\(height)x\(width)")
        self.name = name
        self.channels = channels
        self.height = height
        self.width = width
        self.classes = classes
        self.labels = labels
        self.storage = storage
        rows = .contiguous(first: 0)
    }

    public var count: Int { labels.count }
    public var recordSize: Int { channels * height * width }

    @inline(__always) func storageRow(_ i: Int) -> Int {
        switch rows {
        case let .contiguous(first): return first + i
        case let .list(list): return list[i]
        }
    }

    /// Record `i`'s bytes (C planes of H x W), valid during `body`.
    @inline(__always)
    public func withRecord<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let row = storageRow(i)
        precondition(i >= 0 && i < count && (row + 1) * recordSize <= storage.count, "record \(i) of \(count) outside the storage")
        return try withExtendedLifetime(storage) {
            try body(UnsafeBufferPointer(start: storage.base + row * recordSize, count: recordSize))
        }
    }

    /// Record `i`'s bytes, copied.
    public func record(_ i: Int) -> [UInt8] { withRecord(i) { Array($0) } }

    /// Every record's bytes, one after another (a copy: for small sets and tests).
    public var pixelBytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(count * recordSize)
        for i in 0..<count { withRecord(i) { out.append(contentsOf: $0) } }
        return out
    }

    /// Records `range` as a new dataset (sharing the storage).
    public func subset(_ range: Range<Int>) -> Dataset {
        var d = self
        d.labels = Array(labels[range])
        switch rows {
        case let .contiguous(first): d.rows = .contiguous(first: first + range.lowerBound)
        case let .list(list): d.rows = .list(Array(list[range]))
        }
        return d
    }

    /// The records `indices`, in that order, as a new dataset (sharing the storage).
    public func subset(records indices: [Int]) -> Dataset {
        var d = self
        d.labels = indices.map { labels[$0] }
        d.rows = .list(indices.map { storageRow($0) })
        return d
    }

    /// Holds out `validation` records (the test file stays separate): the last ones, or a
    /// stratified seeded choice (see `holdout`). Returns (train, validation).
    public func splitValidation(_ validation: Int) throws -> (train: Dataset, validation: Dataset) {
        guard validation > 0 && validation < count else {
            throw DataError.invalidSplit("validation size \(validation) must be in 1..<\(count) (the training file has \(count) records)")
        }
        switch holdout {
        case .last:
            return (subset(0..<(count - validation)), subset((count - validation)..<count))
        case let .stratified(seed):
            let held = stratifiedHoldout(validation, seed: seed)
            let isHeld = Set(held)
            return (subset(records: (0..<count).filter { !isHeld.contains($0) }), subset(records: held))
        }
    }

    /// `n` records chosen per class in proportion to its size (largest remainders; a class
    /// keeps at least one training image), each class's by its own seeded permutation; listed
    /// interleaved so that any prefix (`--validation-images`) is stratified too.
    func stratifiedHoldout(_ n: Int, seed: UInt64) -> [Int] {
        var members = [[Int]](repeating: [], count: classes)
        for (i, l) in labels.enumerated() { members[Int(l)].append(i) }
        let exact = members.map { Double(n) * Double($0.count) / Double(count) }
        var quota = zip(exact, members).map { min(Int($0.0), max($0.1.count - 1, 0)) }
        let byRemainder = (0..<classes).sorted { (exact[$0] - Double(quota[$0]), -$0) > (exact[$1] - Double(quota[$1]), -$1) }
        var short = n - quota.reduce(0, +)
        for c in byRemainder where short > 0 && quota[c] < members[c].count - 1 { quota[c] += 1; short -= 1 }
        var keyed: [(key: Double, cls: Int, record: Int)] = []
        for c in 0..<classes where quota[c] > 0 {
            let order = RNG(seed: seed &+ UInt64(c) &* 0x9E37_79B9).permutation(members[c].count)
            for k in 0..<quota[c] { keyed.append(((Double(k) + 0.5) / Double(quota[c]), c, members[c][order[k]])) }
        }
        return keyed.sorted { ($0.key, $0.cls) < ($1.key, $1.cls) }.map(\.record)
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
