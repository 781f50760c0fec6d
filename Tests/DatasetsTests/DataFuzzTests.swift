import Datasets
import Foundation
import Testing
import _TestSupport

/// Mutated IDX and CIFAR-10 files, raw and gzipped: a typed `DataError` or a dataset whose
/// sizes agree — never a trap, never more memory than the header promises.
@Suite struct DataFuzzTests {
    @Test func mutatedIDXFiles() throws {
        var fuzz = Fuzzer(salt: 5)
        let dir = TemporaryDirectory("fuzz-idx")
        defer { withExtendedLifetime(dir) {} }
        let images = idxImages(count: 6, h: 5, w: 4).encoded()
        let labels = idxLabels([0, 1, 2, 3, 4, 5]).encoded()
        var loaded = 0
        for i in 0..<fuzz.cases {
            let mutateImages = fuzz.int(below: 3) != 0
            var img = dir.file("img\(i)", mutateImages ? fuzz.mutate(bytes: images, headerBytes: 16) : images)
            var lab = dir.file("lab\(i)", mutateImages ? labels : fuzz.mutate(bytes: labels, headerBytes: 8))
            if fuzz.int(below: 4) == 0 { img = dir.gzip(img); lab = dir.gzip(lab) }
            do {
                let d = try Dataset.loadIDX(images: img, labels: lab)
                #expect(d.pixelBytes.count == d.count * d.recordSize)
                loaded += 1
            } catch is DataError {}
        }
        #expect(loaded < fuzz.cases)
    }

    @Test func mutatedCIFARFiles() throws {
        var fuzz = Fuzzer(salt: 6, defaultCases: 100)
        let dir = TemporaryDirectory("fuzz-cifar")
        defer { withExtendedLifetime(dir) {} }
        let record = 1 + 3 * 32 * 32
        let good = (0..<(3 * record)).map { $0 % record == 0 ? UInt8($0 / record) : UInt8($0 % 251) }
        for i in 0..<fuzz.cases {
            let f = dir.file("c\(i).bin", fuzz.mutate(bytes: good, headerBytes: 2 * record))
            do {
                let d = try Dataset.loadCIFAR10(files: [f])
                #expect(d.pixelBytes.count == d.count * 3072 && d.labels.allSatisfy { (0..<10).contains($0) })
            } catch is DataError {}
        }
    }
}
