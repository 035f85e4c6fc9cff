/// Names the docker provisioner gives and accepts. Every name ends up in an Engine API path,
/// so only the characters Docker itself allows pass.
public enum DockerNames {
    /// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, as Docker allows container and volume names.
    public static func isContainerName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.utf8.count <= 200, isAlphanumeric(first) else { return false }
        return name.unicodeScalars.allSatisfy { isAlphanumeric($0) || "_.-".unicodeScalars.contains($0) }
    }

    /// `repository[:tag]`, `repository@sha256:…` or an image Id: letters, digits and `._/:@-`,
    /// not starting with a separator, no `..`.
    public static func isImageReference(_ reference: String) -> Bool {
        guard let first = reference.unicodeScalars.first, isAlphanumeric(first), reference.utf8.count <= 512,
            !reference.contains("..")
        else { return false }
        return reference.unicodeScalars.allSatisfy { isAlphanumeric($0) || "._/:@-".unicodeScalars.contains($0) }
    }

    /// The container and volume of a changeover's follower: `changeover-<id>`, the id's other
    /// characters as "_".
    public static func follower(changeover: String) -> String {
        "changeover-"
            + String(
                changeover.unicodeScalars.map {
                    isAlphanumeric($0) || "_.-".unicodeScalars.contains($0) ? Character($0) : "_"
                })
    }

    private static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
    }
}
