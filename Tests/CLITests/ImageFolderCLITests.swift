import Foundation
import Testing
import _TestSupport

/// Image folders through the CLI: Fashion-MNIST written as PNG folders (and as a .npz) trains,
/// exports and evaluates exactly as the IDX files do, and every bad folder ends in one line naming the
/// file (or is skipped and counted with --skip-bad-images).
@Suite struct ImageFolderCLITests {
    func oneLineError(_ r: (status: Int32, stdout: String, stderr: String), contains: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 1 && r.stderr.hasPrefix("error: ") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr.prefix(600))",
                sourceLocation: sourceLocation)
        #expect(r.stderr.contains(contains), "\(r.stderr.prefix(600))", sourceLocation: sourceLocation)
    }

    @Test func fashionMNISTAsPNGFoldersTrainsExactlyAsTheIDXFiles() throws {
        guard let python = testPython() else {
            Issue.record("no Python with Pillow: run scripts/setup.sh (creates .venv) or set PARE_PYTHON")
            return
        }
        let tmp = TemporaryDirectory("fm-folder")
        defer { withExtendedLifetime(tmp) {} }
        let folder = tmp.file("fm")
        let made = try runProgram(python, [repositoryFile("scripts/fashion-mnist-to-folders.py"), folder, "--limit", "700", "--validation", "200"])
        #expect(made.status == 0, "\(made.output)")
        let space = tmp.file("space.yaml", Array(smallShuffleSpaceYAML.utf8))
        let common = ["train", "--space", space, "--epochs", "1", "--probes", "1", "--threads", "1", "--batch-size", "50"]
        var r = try CLI.run(common + ["--data", "folder:" + folder, "--run", tmp.file("rf")])
        #expect(r.status == 0, "\(r.stderr)")
        r = try CLI.run(common + ["--data", "fashion-mnist", "--train-limit", "700", "--validation", "200", "--run", tmp.file("ri")])
        #expect(r.status == 0, "\(r.stderr)")
        // The same images as NumPy arrays (np.savez_compressed), train / val / test.
        let npz = tmp.file("fm.npz")
        let saved = try runProgram(python, ["-c", """
            import gzip, numpy as np
            d = "/usr/share/datasets/fashion-mnist/"
            def idx(name, offset):
                return np.frombuffer(gzip.open(d + name).read(), np.uint8, offset=offset)
            x, y = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)[:700], idx("train-labels-idx1-ubyte.gz", 8)[:700]
            tx, ty = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)[:700], idx("t10k-labels-idx1-ubyte.gz", 8)[:700]
            np.savez_compressed("\(npz)", x_train=x[:500], y_train=y[:500].astype(np.int64), x_val=x[500:], y_val=y[500:], x_test=tx, y_test=ty)
            """])
        #expect(saved.status == 0, "\(saved.output)")
        r = try CLI.run(common + ["--data", "npz:" + npz, "--run", tmp.file("rn")])
        #expect(r.status == 0, "\(r.stderr)")
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: tmp.file("rf/checkpoints"))
        #expect(checkpoints.count == 1)
        for c in checkpoints {
            #expect(FileManager.default.contents(atPath: tmp.file("rf/checkpoints/" + c)) == FileManager.default.contents(atPath: tmp.file("ri/checkpoints/" + c)),
                    "the folder run's weights differ from the IDX run's")
            #expect(FileManager.default.contents(atPath: tmp.file("rn/checkpoints/" + c)) == FileManager.default.contents(atPath: tmp.file("ri/checkpoints/" + c)),
                    "the .npz run's weights differ from the IDX run's")
        }
        for run in ["rf", "ri"] {
            r = try CLI.run(["search", "--run", tmp.file(run), "--population", "6", "--generations", "2", "--mutations", "3", "--crossovers", "3",
                             "--parents", "3", "--calibration-images", "200"])
            #expect(r.status == 0, "\(r.stderr)")
            r = try CLI.run(["export", "--run", tmp.file(run), "--out", tmp.file(run + "-model"), "--calibration-images", "200"])
            #expect(r.status == 0, "\(r.stderr)")
            r = try CLI.run(["eval", tmp.file(run + "-model"), "--split", "val", "--predictions", tmp.file(run + ".csv"), "--repeats", "2"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        // The same search: every candidate and score.
        let history = { (run: String) in try String(contentsOfFile: tmp.file(run + "/search/history.jsonl"), encoding: .utf8) }
        #expect(try history("rf") == history("ri"))
        // Prediction for prediction; only the header differs (the folder's logit columns are named after its classes).
        let rows = { (f: String) in try String(contentsOfFile: tmp.file(f), encoding: .utf8).split(separator: "\n") }
        #expect(try rows("rf.csv").dropFirst() == rows("ri.csv").dropFirst() && rows("rf.csv").count == 201)
        #expect(try rows("rf.csv")[0].hasSuffix("logit_9_Ankle_boot") && rows("ri.csv")[0].hasSuffix("logit_9"))
        // The folder names are the classes, in model.json and in eval's table.
        r = try CLI.run(["eval", tmp.file("rf-model"), "--predictions", tmp.file("test.csv"), "--repeats", "2"])
        #expect(r.status == 0 && r.stdout.contains("9_Ankle_boot") && r.stdout.contains("700 images"), "\(r.stdout)\(r.stderr)")
        let model = try String(contentsOfFile: tmp.file("rf-model/model.json"), encoding: .utf8)
        #expect(model.contains("\"0_T-shirt_top\""))
        // The numpy loader reads the folder as Pare does.
        let check = try runProgram(python, [repositoryFile("tools/pare_model.py"), tmp.file("rf-model"), "--folder", folder + "/test", "--check", tmp.file("test.csv")])
        #expect(check.status == 0 && check.output.contains("700 images") && check.output.contains("0 clear predictions differ"), "\(check.output)")
    }

    /// A folder of two classes (12 grey 28x28 images each) for a two-class space.
    func smallFolder(_ tmp: TemporaryDirectory, _ name: String) -> (folder: String, space: String) {
        let folder = tmp.imageFolder(name, classes: ["ant", "bee"], perClass: 12, size: 28)
        let space = tmp.file("two.yaml", Array(smallShuffleSpaceYAML.replacingOccurrences(of: "classes: 10", with: "classes: 2").utf8))
        return (folder, space)
    }

    @Test func badFoldersAndFilesAreOneLineEach() throws {
        let tmp = TemporaryDirectory("bad-folder")
        defer { withExtendedLifetime(tmp) {} }
        func train(_ folder: String, _ space: String, _ extra: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
            try CLI.run(["train", "--space", space, "--data", "folder:" + folder, "--epochs", "1", "--probes", "0", "--batch-size", "4",
                         "--validation", "4", "--run", tmp.file("run-\(UUID().uuidString)")] + extra)
        }
        var (folder, space) = smallFolder(tmp, "truncated")
        let good = [UInt8](FileManager.default.contents(atPath: folder + "/ant/img003.png")!)
        tmp.file("truncated/ant/img003.png", Array(good.prefix(good.count / 2)))
        oneLineError(try train(folder, space), contains: "truncated/ant/img003.png")

        (folder, space) = smallFolder(tmp, "text")
        tmp.file("text/bee/notes.txt", Array("ignored: not named as an image".utf8))
        tmp.file("text/bee/fake.JPG", Array("not an image".utf8))
        oneLineError(try train(folder, space), contains: "text/bee/fake.JPG: not a usable image")
        // Skipped and counted instead; training goes on.
        let skipped = try train(folder, space, ["--skip-bad-images"])
        #expect(skipped.status == 0 && skipped.stderr.contains("skipped 1 bad files"), "\(skipped.stderr.suffix(600))")

        (folder, space) = smallFolder(tmp, "bomb")
        tmp.file("bomb/ant/huge.png", PNGWriter.headerBomb(width: 60_000, height: 60_000))
        oneLineError(try train(folder, space), contains: "60000 x 60000")

        (folder, space) = smallFolder(tmp, "empty")
        try FileManager.default.createDirectory(atPath: folder + "/cow", withIntermediateDirectories: true)
        oneLineError(try train(folder, space), contains: "empty/cow: class folder without images")

        let one = tmp.imageFolder("one", classes: ["solo"], perClass: 3, size: 28)
        oneLineError(try train(one, space), contains: "only one class folder")

        (folder, space) = smallFolder(tmp, "loop")
        try FileManager.default.createSymbolicLink(atPath: folder + "/ant/again", withDestinationPath: folder + "/ant")
        oneLineError(try train(folder, space), contains: "symlink loop")

        (folder, space) = smallFolder(tmp, "fifo")
        #expect(mkfifo(folder + "/bee/pipe.png", 0o644) == 0)
        oneLineError(try train(folder, space), contains: "fifo/bee/pipe.png: cannot read (not a regular file)")

        tmp.imageFolder("split/train", classes: ["ant", "bee"], perClass: 6, size: 28)
        tmp.imageFolder("split/val", classes: ["ant", "wasp"], perClass: 2, size: 28)
        oneLineError(try train(tmp.file("split"), space), contains: "split/val: class folders [ant, wasp] differ from the training split's [ant, bee]")

        // The space must fit the classes.
        oneLineError(try CLI.run(["train", "--space", repositoryFile("search-spaces/fmnist-shufflenet.yaml"), "--data", "folder:" + tmp.file("one/..") + "/truncated",
                                  "--skip-bad-images", "--run", tmp.file("r10")]), contains: "2 class folders, the space has 10 classes (set `classes: 2` in the space file)")
    }

    /// Colour JPEGs of another aspect (120 x 90) into the shipped 96 x 96 space: decoded,
    /// cropped and resized once, trained, exported, evaluated (the numpy loader reading the
    /// folder itself agrees), and read from the cache by the next run.
    @Test func colourJPEGsTrainTheNinetySixPixelSpace() throws {
        guard let python = testPython() else {
            Issue.record("no Python with Pillow: run scripts/setup.sh (creates .venv) or set PARE_PYTHON")
            return
        }
        let tmp = TemporaryDirectory("rgb96")
        defer { withExtendedLifetime(tmp) {} }
        let folder = tmp.file("photos")
        let made = try runProgram(python, [repositoryFile("scripts/make-image-folder.py"), folder, "--count", "40", "--classes", "2", "--size", "120x90", "--split"])
        #expect(made.status == 0, "\(made.output)")
        var r = try CLI.run(["train", "--space", repositoryFile("search-spaces/rgb96-vww.yaml"), "--data", "folder:" + folder, "--epochs", "1",
                             "--probes", "0", "--batch-size", "8", "--run", tmp.file("run")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("decoded 32 images") && r.stderr.contains("decoded 4 images"), "\(r.stderr)")
        r = try CLI.run(["export", "--run", tmp.file("run"), "--arch", "smallest", "--out", tmp.file("model"), "--calibration-images", "32", "--onnx"])
        #expect(r.status == 0, "\(r.stderr)")
        r = try CLI.run(["eval", tmp.file("model"), "--predictions", tmp.file("p.csv"), "--repeats", "2"])
        #expect(r.status == 0 && r.stdout.contains("class1") && r.stdout.contains("4 images"), "\(r.stdout)\(r.stderr)")
        let header = try String(contentsOfFile: tmp.file("p.csv"), encoding: .utf8).prefix { $0 != "\n" }
        #expect(header == "index,label,predicted,logit_class0,logit_class1")
        // A folder of class folders without a test split, named with --data, is evaluated whole.
        r = try CLI.run(["eval", tmp.file("model"), "--data", "folder:" + folder + "/train", "--repeats", "2"])
        #expect(r.status == 0 && r.stderr.contains("has no test split: evaluating all its 32 images"), "\(r.stderr)")
        // A second training reads the cache: nothing is decoded again.
        r = try CLI.run(["train", "--space", repositoryFile("search-spaces/rgb96-vww.yaml"), "--data", "folder:" + folder, "--epochs", "1",
                         "--probes", "0", "--batch-size", "8", "--run", tmp.file("run2")])
        #expect(r.status == 0 && !r.stderr.contains("decoded"), "\(r.stderr)")
        let check = try runProgram(python, [repositoryFile("tools/pare_model.py"), tmp.file("model"), "--folder", folder + "/test", "--check", tmp.file("p.csv")])
        #expect(check.status == 0 && check.output.contains("0 clear predictions differ"), "\(check.output)")
    }
}
