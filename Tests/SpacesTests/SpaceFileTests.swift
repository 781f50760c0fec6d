import Foundation
import Spaces
import Testing

func repositoryFile(_ relative: String) -> String {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent(relative).path
}

let validSpace = """
name: tiny
input: {channels: 1, size: 8}
classes: 3
stem: {channels: 4, kernel: 3, stride: 1}
stages:
  - blocks: 2
    stride: 2
    widths: [6, 8]
    operators: [shuffle3, xception]
    middle_ratios: [0.5, 1.0]
  - blocks: 1
    stride: 2
    widths: [12]
    operators: [mbconv3_e3]
    middle_ratios: [1.0]
head: {channels: 16}
"""

func loadError(_ text: String) -> String {
    do { _ = try SpaceFile.parse(text, file: "bad.yaml"); return "no error" } catch { return "\(error)" }
}

@Suite struct SpaceFileTests {
    @Test func shippedSpacesLoad() throws {
        for name in ["fmnist-shufflenet", "fmnist-mobilenetv2", "cifar10-shufflenet"] {
            let space = try SpaceFile.load(repositoryFile("search-spaces/\(name).yaml"))
            #expect(space.name == name)
            #expect(space.cost(space.smallest).macs < space.cost(space.largest).macs)
            for arch in [space.smallest, space.largest] { try space.validate(arch) }
        }
    }

    @Test func shuffleSpaceWithFixedWidthsIsTheReference() throws {
        var fixed = try SpaceFile.load(repositoryFile("search-spaces/fmnist-shufflenet.yaml")).fixingWidths()
        fixed.name = "reference"
        #expect(fixed == SearchSpace.reference)
    }

    @Test func badFilesNameFileFieldAndExpectation() {
        let cases: [(String, String, String)] = [
            ("operators: [shuffle3, xception]", "operators: [shuffle3, shuffle9]", "bad.yaml: stages[0].operators[1]: unknown operator 'shuffle9'"),
            ("    widths: [12]", "    widths: [12, 10]", "bad.yaml: stages[1].widths: expected strictly increasing"),
            ("  - blocks: 1\n    stride: 2", "  - blocks: 1\n    stride: 3", "bad.yaml: stages[1].stride: expected 1...2, got 3"),
            ("classes: 3\n", "", "bad.yaml: classes: missing field"),
            ("    middle_ratios: [1.0]", "", "bad.yaml: stages[1].middle_ratios: missing field"),
            ("head: {channels: 16}", "head: {channels: 16, dropout: 0.2}", "bad.yaml: head.dropout: unknown field"),
            ("    widths: [6, 8]", "    widths: [6, 7]", "bad.yaml: stages[0].widths: ShuffleNet blocks split channels in half: width 7 is odd"),
            ("    widths: [6, 8]", "    widths: [2, 8]", "bad.yaml: stages[0].widths: ShuffleNet stride-2 blocks need every output width above every input width"),
            ("  - blocks: 2\n    stride: 2", "  - blocks: 2\n    stride: 1", "bad.yaml: stages[0].stride: a ShuffleNet block changing width"),
            ("middle_ratios: [0.5, 1.0]", "middle_ratios: [0.55, 1.0]", "bad.yaml: stages[0].middle_ratios[0]: expected a multiple of 0.1"),
            ("stem: {channels: 4, kernel: 3, stride: 1}", "stem: {channels: 4, kernel: 4, stride: 1}", "bad.yaml: stem.kernel: expected an odd kernel size"),
            ("input: {channels: 1, size: 8}", "input: {channels: one, size: 8}", "bad.yaml: input.channels: expected an integer"),
            ("name: tiny", "name: tiny\n  bad: [", "bad.yaml: not valid YAML/JSON"),
        ]
        #expect(loadError(validSpace) == "no error")
        for (from, to, expected) in cases {
            let text = validSpace.replacingOccurrences(of: from, with: to)
            #expect(text != validSpace, "fixture edit '\(from)' did not apply")
            let m = loadError(text)
            #expect(m.hasPrefix(expected), "got: \(m)")
            #expect(!m.contains("\n"))
        }
        #expect("\(String(describing: try? SpaceFile.load("/nonexistent.yaml")))" == "nil")
    }

    @Test func jsonFilesLoadToo() throws {
        let json = """
        {"name": "j", "input": {"channels": 3, "size": 16}, "classes": 10, "stem": {"channels": 8},
         "stages": [{"blocks": 1, "stride": 2, "widths": [16], "operators": ["mbconv5_e6"], "middle_ratios": [1]}],
         "head": {"channels": 32}}
        """
        let s = try SpaceFile.parse(json, file: "j.json")
        #expect(s.stem == SearchSpace.Stem(channels: 8, kernel: 3, stride: 1))
        #expect(s.stages[0].operators == [.invertedResidual(kernel: 5, expansion: 6)])
    }
}

@Suite struct ArchitectureTests {
    final class Counter: RandomSource {
        var state: UInt64 = 12345
        func int(below n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
    }

    @Test func spreadSamplesLandInEveryCostBin() throws {
        let space = try SpaceFile.load(repositoryFile("search-spaces/fmnist-shufflenet.yaml"))
        let lo = space.cost(space.smallest).macs, hi = space.cost(space.largest).macs
        let rng = Counter()
        let bins = 10, width = (hi - lo) / bins
        var uniformInBin0 = 0
        for i in 0..<bins {
            let target = lo + width * i + width / 2
            for _ in 0..<5 {
                let a = space.randomArchitecture(nearMACs: target, tolerance: width / 2, rng: rng)
                try space.validate(a)
                #expect(abs(space.cost(a).macs - target) <= width / 2, "bin \(i): \(space.cost(a).macs) for \(target)")
            }
        }
        // What the spreading is for: uniform draws almost never reach the cheapest bin.
        for _ in 0..<200 where space.cost(space.randomArchitecture(rng)).macs < lo + width { uniformInBin0 += 1 }
        #expect(uniformInBin0 < 10)
    }

    @Test func textAndJSONRoundTrips() throws {
        let space = try SpaceFile.parse(validSpace, file: "tiny.yaml")
        let rng = Counter()
        for _ in 0..<50 {
            let a = space.randomArchitecture(rng)
            try space.validate(a)
            #expect(try Architecture(parsing: a.description, space: space) == a)
            let data = try JSONEncoder().encode(a)
            #expect(try JSONDecoder().decode(Architecture.self, from: data) == a)
        }
        let a = try Architecture(parsing: "8/12:xception@0.5,shuffle3@1.0,mbconv3_e3@1.0", space: space)
        #expect(a.widths == [8, 12] && a.genes[0] == Architecture.Gene(op: .xception, ratioTenths: 5))
    }

    @Test func invalidArchitecturesAreRejected() throws {
        let space = try SpaceFile.parse(validSpace, file: "tiny.yaml")
        func message(_ text: String) -> String {
            do { _ = try Architecture(parsing: text, space: space); return "no error" } catch { return "\(error)" }
        }
        #expect(message("16/12:xception@0.5,shuffle3@1.0,mbconv3_e3@1.0")
                == "architecture: stage 0 width 16 is not one of [6, 8] (largest allocated 8)")
        #expect(message("8/12:xception@0.5,shuffle3@1.0").contains("2 block genes for 3 blocks"))
        #expect(message("8/12:xception@0.7,shuffle3@1.0,mbconv3_e3@1.0").contains("ratio 0.7 is not one of"))
        #expect(message("8/12:mbconv3_e3@0.5,shuffle3@1.0,mbconv3_e3@1.0").contains("operator mbconv3_e3 is not one of"))
        #expect(message("8/12 xception").contains("expected WIDTHS:GENES"))
    }

    @Test func handComputedCosts() throws {
        let space = try SpaceFile.parse(validSpace, file: "tiny.yaml")
        // 8/12: shuffle3@1.0 (stride 2, 4 -> 8, mid = 8/2 * 1.0 = 4, 8x8 -> 4x4),
        //       xception@0.5 (stride 1, 8 -> 8, mid = 2, 4x4),
        //       mbconv3_e3@1.0 (stride 2, 8 -> 12, mid = 24, 4x4 -> 2x2).
        let a = try Architecture(parsing: "8/12:shuffle3@1.0,xception@0.5,mbconv3_e3@1.0", space: space)
        let stem = 9 * 1 * 4 * 64
        let b0 = (9 * 4 * 16 + 4 * 4 * 16) + (4 * 4 * 64 + 9 * 4 * 16 + 4 * 4 * 16)   // proj + main (pw1 at 8x8)
        let b1 = 9 * 4 * 16 + 4 * 2 * 16 + 9 * 2 * 16 + 2 * 2 * 16 + 9 * 2 * 16 + 2 * 4 * 16
        let b2 = 8 * 24 * 16 + 9 * 24 * 4 + 24 * 12 * 4
        let head = 12 * 16 * 4 + 16 * 3
        #expect(space.cost(a).macs == stem + b0 + b1 + b2 + head)
        let p0 = (9 * 4 + 8 + 16 + 8) + (4 * 4 + 8 + 9 * 4 + 8 + 4 * 4 + 8)
        let p1 = 9 * 4 + 8 + 4 * 2 + 4 + 9 * 2 + 4 + 2 * 2 + 4 + 9 * 2 + 4 + 2 * 4 + 8
        let p2 = 8 * 24 + 48 + 9 * 24 + 48 + 24 * 12 + 24
        #expect(space.cost(a).parameters == (9 * 4 + 8) + p0 + p1 + p2 + (12 * 16 + 32 + 16 * 3 + 3))
        #expect(abs(space.log10Candidates - log10(2.0 * 4 * 4 * 1)) < 1e-9)
    }
}
