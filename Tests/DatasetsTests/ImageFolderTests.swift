import Datasets
import Foundation
import Testing
import _TestSupport

/// Image folders through `DataSource.open`: listing, labels from sorted class folders, the
/// stratified hold-out, and the decode cache (reused, rebuilt on change, never trusted when
/// damaged).
@Suite struct ImageFolderTests {
    let quiet: (String) -> Void = { _ in }

    @Test func classFoldersBecomeLabelsAndPixelsSurviveExactly() throws {
        let tmp = TemporaryDirectory("folder")
        defer { withExtendedLifetime(tmp) {} }
        let root = tmp.imageFolder("pets", classes: ["dog", "cat", "bird"], perClass: 4, size: 6)
        let files = try DataSource.folder(directory: root).open(channels: 1, size: 6, log: quiet)
        let d = files.train
        #expect(d.classNames == ["bird", "cat", "dog"] && d.classes == 3 && d.count == 12)
        #expect(files.validation == nil && files.test == nil)
        // Ordered by file name, then class: img000 of bird, cat, dog, then img001 …
        #expect(d.labels.prefix(6) == [0, 1, 2, 0, 1, 2])
        // Record 5: dog's img001 (dog was written first: class salt 0, image 1).
        let expected = (0..<36).map { (j: Int) -> UInt8 in UInt8((j * 7 + 13) % 256) }
        #expect(d.record(5) == expected)
        #expect(d.storage.isMapped)
    }

    @Test func stratifiedHoldoutIsDeterministicAndBalanced() throws {
        let labels = (0..<100).map { Int32($0 < 50 ? 0 : $0 < 80 ? 1 : 2) }
        var d = Dataset(name: "t", channels: 1, height: 1, width: 1, classes: 3, pixels: (0..<100).map { UInt8($0) }, labels: labels)
        d.holdout = .stratified(seed: 0)
        let (train, val) = try d.splitValidation(10)
        let again = try d.splitValidation(10)
        #expect(val.pixelBytes == again.validation.pixelBytes && train.pixelBytes == again.train.pixelBytes)
        #expect(val.count == 10 && train.count == 90)
        #expect([0, 1, 2].map { c in val.labels.filter { $0 == c }.count } == [5, 3, 2])
        #expect(Set(val.pixelBytes).isDisjoint(with: Set(train.pixelBytes)))
        // Any prefix stays stratified: the first 5 hold every class.
        #expect(Set(val.labels.prefix(5)) == [0, 1, 2])
        // Train keeps the file order.
        #expect(train.pixelBytes == train.pixelBytes.sorted())
        var other = d
        other.holdout = .stratified(seed: 1)
        #expect(try other.splitValidation(10).validation.pixelBytes != val.pixelBytes)
    }

    @Test func splitLayoutAndDifferentClassesAreChecked() throws {
        let tmp = TemporaryDirectory("layout")
        defer { withExtendedLifetime(tmp) {} }
        tmp.imageFolder("data/train", classes: ["a", "b"], perClass: 3, size: 4)
        tmp.imageFolder("data/val", classes: ["a", "b"], perClass: 2, size: 4, salt: 1)
        tmp.imageFolder("data/test", classes: ["a", "b"], perClass: 1, size: 4, salt: 2)
        let files = try DataSource.folder(directory: tmp.file("data")).open(channels: 3, size: 8, log: quiet)
        #expect(files.train.count == 6 && files.validation?.count == 4 && files.test?.count == 2)
        #expect(files.train.channels == 3 && files.train.height == 8)
        tmp.imageFolder("data/val", classes: ["c"], perClass: 1, size: 4)
        #expect {
            try DataSource.folder(directory: tmp.file("data")).open(channels: 1, size: 4, log: quiet)
        } throws: { "\($0)".contains("differ from the training split's [a, b]") }
    }

    @Test func cacheIsReusedAndRebuiltWhenAFileChanges() throws {
        let tmp = TemporaryDirectory("cache")
        defer { withExtendedLifetime(tmp) {} }
        let root = tmp.imageFolder("set", classes: ["x", "y"], perClass: 3, size: 5)
        let listing = try FolderListing.list(root)
        let fitter = ImageFitter(channels: 1, height: 5, width: 5)
        let cache = tmp.file("c.bin")
        let first = try DecodeCache.load(listing, fitter: fitter, skipBad: false, cacheFile: cache, name: "t", log: quiet)
        let second = try DecodeCache.load(listing, fitter: fitter, skipBad: false, cacheFile: cache, name: "t", log: quiet)
        #expect(!first.fromCache && second.fromCache && first.dataset.pixelBytes == second.dataset.pixelBytes)
        // Another image in place of one: other size and time, so the key changes.
        let changed = (0..<25).map { _ in UInt8(200) }
        Thread.sleep(forTimeInterval: 0.01)
        tmp.file("set/y/img001.png", PNGWriter.encode(width: 5, height: 5, channels: 1, pixels: changed) + [0])
        var messages: [String] = []
        let third = try DecodeCache.load(try FolderListing.list(root), fitter: fitter, skipBad: false, cacheFile: cache, name: "t") { messages.append($0) }
        #expect(!third.fromCache && messages.first?.contains("out of date") == true)
        #expect(third.dataset.record(3) == changed)
        // Another input shape is another key too.
        let bigger = try DecodeCache.load(try FolderListing.list(root), fitter: ImageFitter(channels: 1, height: 7, width: 7), skipBad: false,
                                          cacheFile: cache, name: "t", log: quiet)
        #expect(!bigger.fromCache && bigger.dataset.height == 7)
    }

    /// A cache file damaged anywhere is rebuilt: the dataset is always the folder's.
    @Test func damagedCachesAreRebuiltNeverTrusted() throws {
        let tmp = TemporaryDirectory("cache-fuzz")
        defer { withExtendedLifetime(tmp) {} }
        let root = tmp.imageFolder("set", classes: ["x", "y"], perClass: 2, size: 4)
        let listing = try FolderListing.list(root)
        let fitter = ImageFitter(channels: 1, height: 4, width: 4)
        let cache = tmp.file("c.bin")
        let truth = try DecodeCache.load(listing, fitter: fitter, skipBad: false, cacheFile: cache, name: "t", log: quiet).dataset
        let good = [UInt8](FileManager.default.contents(atPath: cache)!)
        var fuzz = Fuzzer(salt: 42, defaultCases: 150)
        for _ in 0..<fuzz.cases {
            let bad = fuzz.int(below: 5) == 0 ? Array(good.prefix(fuzz.int(below: good.count))) : fuzz.mutate(bytes: good, headerBytes: 32)
            guard bad != good else { continue }
            tmp.file("c.bin", bad)
            let loaded = try DecodeCache.load(listing, fitter: fitter, skipBad: false, cacheFile: cache, name: "t", log: quiet)
            #expect(loaded.dataset.pixelBytes == truth.pixelBytes && loaded.dataset.labels == truth.labels)
            #expect(!loaded.fromCache || bad.count == good.count)
        }
    }
}
