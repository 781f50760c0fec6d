import Foundation
import Testing
import _TestSupport

/// docs/design.md lists each module's dependencies; Package.swift is what builds.
@Suite struct DesignDocTests {
    /// Target name -> its dependencies (targets and products), for the modules of Sources/.
    static func packageDependencies() throws -> [String: Set<String>] {
        let text = try String(contentsOfFile: repositoryFile("Package.swift"), encoding: .utf8)
        let target = try Regex(#"\.(?:target|executableTarget)\(\s*name:\s*"(\w+)"(?:,\s*dependencies:\s*\[(.*?)\])?"#).dotMatchesNewlines()
        var out: [String: Set<String>] = [:]
        for m in text.matches(of: target) {
            let name = String(m.output[1].substring!)
            guard !name.hasPrefix("_") else { continue }
            let deps = m.output[2].substring.map(String.init) ?? ""
            // A product's package name is not a dependency of its own.
            let withoutPackages = deps.replacing(try Regex(#"package:\s*"[\w-]+""#), with: "")
            out[name] = Set(withoutPackages.matches(of: try Regex(#""(\w+)""#)).map { String($0.output[1].substring!) })
        }
        return out
    }

    static func documentedDependencies() throws -> [String: Set<String>] {
        let text = try String(contentsOfFile: repositoryFile("docs/design.md"), encoding: .utf8)
        guard let start = text.range(of: "<!-- dependencies -->"), let end = text.range(of: "<!-- /dependencies -->") else { return [:] }
        var out: [String: Set<String>] = [:]
        for line in text[start.upperBound..<end.lowerBound].split(separator: "\n") where !line.hasPrefix("```") {
            let parts = line.split(separator: " ", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            out[parts[0]] = parts[1] == "(none)" ? [] : Set(parts[1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        }
        return out
    }

    @Test func theDocumentedDependenciesAreThePackages() throws {
        let package = try Self.packageDependencies(), documented = try Self.documentedDependencies()
        #expect(package.count >= 15 && package["Workflows"]?.contains("Search") == true && package["pare"]?.contains("ArgumentParser") == true)
        #expect(Set(package.keys) == Set(documented.keys))
        for (name, deps) in package { #expect(documented[name] == deps, "\(name): Package.swift \(deps.sorted()), docs \(documented[name]?.sorted() ?? [])") }
    }
}
