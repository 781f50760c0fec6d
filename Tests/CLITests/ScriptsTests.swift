import Foundation
import Testing
import _TestSupport

/// The README tells users to run scripts/*.sh as commands: each must be executable in the
/// checkout (git keeps the mode; a lost bit once made `scripts/recipe.sh` say "Permission
/// denied" on a fresh clone) and parse as bash.
@Suite struct ScriptsTests {
    @Test func everyShellScriptIsExecutableAndParses() throws {
        let dir = repositoryFile("scripts")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".sh") }.sorted()
        #expect(names.contains("recipe.sh") && names.contains("demo.sh") && names.contains("test.sh"))
        for name in names {
            let path = dir + "/" + name
            #expect(FileManager.default.isExecutableFile(atPath: path), "\(path) is not executable (git update-index --chmod=+x)")
            let check = try runProgram("/bin/bash", ["-n", path])
            #expect(check.status == 0, "\(path): \(check.output)")
        }
    }

    /// The README's set-up paragraph names what `scripts/setup.sh` installs (it once listed
    /// five packages of nine).
    @Test func readmeNamesEveryPackageSetupInstalls() throws {
        let setup = try String(contentsOfFile: repositoryFile("scripts/setup.sh"), encoding: .utf8)
        let line = try #require(setup.split(separator: "\n").first { $0.hasPrefix("packages=(") })
        let packages = line.dropFirst("packages=(".count).prefix { $0 != ")" }.split(separator: " ").map(String.init)
        #expect(packages.count >= 9)
        let readme = try String(contentsOfFile: repositoryFile("README.md"), encoding: .utf8)
        let words = Set(readme.split(whereSeparator: { " \n`(),:".contains($0) }).map(String.init))
        for p in packages { #expect(words.contains(p), "README.md does not name \(p), which scripts/setup.sh installs") }
    }
}
