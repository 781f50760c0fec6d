import Foundation
import Spaces
import Testing
import _TestSupport

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
        for name in ["fmnist-shufflenet", "fmnist-shufflenet-deep", "fmnist-mobilenetv2", "cifar10-shufflenet", "rgb32-elastic", "rgb96-vww"] {
            let space = try SpaceFile.load(repositoryFile("search-spaces/\(name).yaml"))
            #expect(space.name == name)
            #expect(space.cost(space.smallest).macs < space.cost(space.largest).macs)
            for arch in [space.smallest, space.largest] { try space.validate(arch) }
        }
    }

    @Test("classic networks load as single-candidate spaces with their known cost")
    func classicSpaces() throws {
        let resnet = try SpaceFile.load(repositoryFile("search-spaces/resnet20.yaml"))
        #expect(resnet.isSingleArchitecture && resnet.head.channels == 0)
        // By hand: stem 9*16*784; stage 0: 3 blocks of two 9*16*16*784; stage 1: 9*16*32*196 +
        // 9*32*32*196 + projection 16*32*196, then 2 blocks of two 9*32*32*196; stage 2 likewise
        // at 49 pixels; fc 64*10. Parameters: the same weights plus BN pairs and the fc bias.
        #expect(resnet.cost(resnet.largest) == Cost(macs: 31_021_952, parameters: 272_186))
        let mobile = try SpaceFile.load(repositoryFile("search-spaces/mobilenetv1.yaml"))
        #expect(mobile.isSingleArchitecture && mobile.blocks.count == 13)
        #expect(mobile.blocks.allSatisfy { $0.operators == [.separable(kernel: 3)] })
    }

    @Test func shuffleSpaceWithFixedWidthsIsTheReference() throws {
        var fixed = try SpaceFile.load(repositoryFile("search-spaces/fmnist-shufflenet.yaml")).fixingWidths()
        fixed.name = "reference"
        // The reference keeps one set of weights per operator, as the PyTorch peer does.
        fixed.kernelSharing = .separate
        #expect(fixed == SearchSpace.reference)
    }

    @Test func badFilesNameFileFieldAndExpectation() {
        let cases: [(String, String, String)] = [
            ("operators: [shuffle3, xception]", "operators: [shuffle3, shuffle9]", "bad.yaml: stages[0].operators[1]: unknown operator 'shuffle9'"),
            ("    widths: [12]", "    widths: [12, 10]", "bad.yaml: stages[1].widths: expected strictly increasing"),
            ("  - blocks: 1\n    stride: 2", "  - blocks: 1\n    stride: 3", "bad.yaml: stages[1].stride: expected 1...2, got 3"),
            ("classes: 3\n", "", "bad.yaml: classes: missing field"),
            ("    middle_ratios: [1.0]", "    middle_ratios: []", "bad.yaml: stages[1].middle_ratios: expected a non-empty list of numbers"),
            ("    middle_ratios: [1.0]", "    middle_ratios: [1.0]\n    middle_widths: [3, 4]", "bad.yaml: stages[1].middle_widths: expected one middle width per block (1), got 2"),
            ("    middle_ratios: [1.0]", "    middle_ratios: [1.0]\n    middle_widths: [0]", "bad.yaml: stages[1].middle_widths[0]: expected an integer in 1...4096, got '0'"),
            ("head: {channels: 16}", "head: {channels: -1}", "bad.yaml: head.channels: expected 0...8192, got -1"),
            ("head: {channels: 16}", "head: {channels: 16, dropout: 0.2}", "bad.yaml: head.dropout: unknown field"),
            ("    widths: [6, 8]", "    widths: [6, 7]", "bad.yaml: stages[0].widths: ShuffleNet blocks split channels in half: width 7 is odd"),
            ("    widths: [6, 8]", "    widths: [2, 8]", "bad.yaml: stages[0].widths: ShuffleNet stride-2 blocks need every output width above every input width"),
            ("  - blocks: 2\n    stride: 2", "  - blocks: 2\n    stride: 1", "bad.yaml: stages[0].stride: a ShuffleNet block changing width"),
            ("middle_ratios: [0.5, 1.0]", "middle_ratios: [0.55, 1.0]", "bad.yaml: stages[0].middle_ratios[0]: expected a multiple of 0.1"),
            ("stem: {channels: 4, kernel: 3, stride: 1}", "stem: {channels: 4, kernel: 4, stride: 1}", "bad.yaml: stem.kernel: expected an odd kernel size"),
            ("input: {channels: 1, size: 8}", "input: {channels: one, size: 8}", "bad.yaml: input.channels: expected an integer"),
            ("name: tiny", "name: tiny\n  bad: [", "bad.yaml: not valid YAML/JSON"),
            ("name: tiny", "name: tiny\nkernel_sharing: elastic", "bad.yaml: kernel_sharing: expected none, crop or transform, got 'elastic'"),
            ("name: tiny", "name: tiny\npruning_net: maybe", "bad.yaml: pruning_net: expected true or false, got 'maybe'"),
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

    @Test func sharingAndPruningNetOptionsLoadAndSurviveStorage() throws {
        let space = try SpaceFile.parse("kernel_sharing: transform\npruning_net: true\n" + validSpace, file: "s.yaml")
        #expect(space.kernelSharing == .transform && space.pruningNet)
        #expect(try SpaceFile.parse(validSpace, file: "s.yaml").kernelSharing == SpaceFile.defaultKernelSharing)
        let stored = try JSONDecoder().decode(SearchSpace.self, from: try JSONEncoder().encode(space))
        #expect(stored == space)
        // A stored copy from before these options existed: every operator its own weights.
        var json = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(space)) as! [String: Any]
        json.removeValue(forKey: "kernelSharing"); json.removeValue(forKey: "pruningNet")
        let old = try JSONDecoder().decode(SearchSpace.self, from: try JSONSerialization.data(withJSONObject: json))
        #expect(old.kernelSharing == .separate && !old.pruningNet)
        // Sharing groups a block's operators by family.
        var tiny = try tinySpace()
        tiny.kernelSharing = .centreCrop
        #expect(tiny.blocks[0].operatorGroups == [[.shuffle(kernel: 3), .shuffle(kernel: 5)], [.xception]])
        #expect(tiny.blocks[2].operatorGroups == [[.invertedResidual(kernel: 3, expansion: 3), .invertedResidual(kernel: 5, expansion: 6)]])
        tiny.kernelSharing = .separate
        #expect(tiny.blocks[0].operatorGroups.count == 3)
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
