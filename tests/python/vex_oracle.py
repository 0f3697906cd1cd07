"""What Trivy and Grype suppress with a VEX document: their matching rules,
ported line by line, since neither scanner installs here.

Ported from (read at these commits):
  openvex/go-vex v0.2.8 (a340b5d7c0a6b2254962d227a36376917790e342; v0.2.7,
      which Trivy pins, has the same matching code):
      pkg/vex/vex.go (VEX.Matches, PurlMatches), pkg/vex/statement.go
      (Statement.Matches), pkg/vex/product.go (Product.Matches),
      pkg/vex/component.go (Component.Matches), pkg/vex/vulnerability.go
      (Vulnerability.Matches)
  package-url/packageurl-go v0.1.5 (53d197fc49c59cde4c6e9b0d090076ef835dcc9b),
      go-vex's purl parser: packageurl.go (FromString,
      separateNamespaceNameVersion, parseQualifiers, typeAdjust*)
  aquasecurity/trivy dc3c56eed58ab21c7e08d26757c517bc946a86c5:
      pkg/vex/vex.go (filterVulnerabilities, reachRoot),
      pkg/vex/openvex.go (NotAffected, Matches), pkg/vex/cyclonedx.go,
      pkg/vex/document.go (a CycloneDX VEX only with a CycloneDX SBOM),
      pkg/purl/purl.go (New, parseOCI, parseDeb, parsePyPI),
      pkg/fanal/image/remote.go (RepoDigests of a pulled image),
      pkg/fanal/types/package.go (PkgIdentifier.Match),
      pkg/sbom/io/decode.go (the OS only from an operating-system component)
  CycloneDX/cyclonedx-go v0.11.0: link.go (ParseBOMLink)
  anchore/grype 4562c55cebba5fe50a0c5afc7cec50a3b2392a87:
      grype/vex/openvex/implementation.go (productIdentifiersFromContext,
      identifiersFromTags, identifiersFromDigests,
      normalizeDockerHubRepositoryURL, findMatchingStatement, FilterMatches)
  anchore/stereoscope v0.3.0: pkg/image/oci/registry_provider.go (a registry
      image has one repo digest, the one the reference resolved to, and no
      tags), pkg/image/docker/daemon_provider.go (tags and repo digests)
  anchore/syft v1.49.0: syft/source/stereoscopesource/image_source.go
      (Describe: the source name is the reference's name as typed)
  google/go-containerregistry pkg/name (registry, library/ defaults)

Usage: vex_oracle.py selftest     (the port against upstream's test vectors)
       vex_oracle.py SCENARIO.json
  {"scanner": "trivy" | "grype" | "trivy-sbom",
   "vex": "<file>", "sbom": "<CycloneDX SBOM file, trivy-sbom only>",
   "image": {"reference": "<as typed: registry/repo:tag or registry/repo@sha256:..>",
             "digest": "<the digest the reference resolves to>",
             "arch": "amd64",
             "source": "registry" | "daemon" | "daemon-loaded" | "local",
             "debian_version": "12.9"},
   "findings": [{"id": "CVE-..", "package": {"name", "version", "arch",
                 "ecosystem": "deb" | "pypi", "syft_purl": ".."}}]}
Prints {"suppressed": [[id, package name], ...], "kept": [...]} as JSON.
"""
import json
import re
import sys
from urllib.parse import quote, unquote

# --- packageurl-go v0.1.5 FromString -------------------------------------


def purl_parse(s):
    """(type, namespace, name, version, [(key, value)]) or None."""
    if not s.startswith("pkg:"):
        return None
    rest = s[4:]
    rest, _, _subpath = rest.partition("#")
    rest, _, query = rest.partition("?")
    if rest.startswith("/"):  # pkg:/ or pkg:// fall back to host + path
        rest = rest.lstrip("/")
    typ, sep, rest = rest.partition("/")
    if not sep:
        return None
    typ = typ.lower()
    quals = []
    for part in query.split("&"):
        if part == "":
            continue
        if ";" in part:
            return None
        k, _, v = part.partition("=")
        k = k.lower()
        if not re.fullmatch(r"[a-z0-9.\-_]+", k) or k[0].isdigit():
            return None
        quals.append((k, unquote(v)))
    if typ != "npm" and rest.startswith("@"):
        return None
    version = ""
    if rest.rfind("@") > 0:
        rest, version = rest[: rest.rfind("@")], unquote(rest[rest.rfind("@") + 1 :])
    ns_part, _, name = rest.rpartition("/")
    name = unquote(name)
    ns = "/".join(unquote(x) for x in ns_part.split("/") if x).strip("/")
    if not name:
        return None
    if typ in ("alpm", "apk", "bitbucket", "composer", "deb", "github", "golang", "rpm", "qpkg"):
        ns = ns.lower()
    if typ in ("alpm", "apk", "bitbucket", "bitnami", "composer", "deb", "github", "golang"):
        name = name.lower()
    elif typ == "pypi":
        name = name.replace("_", "-").lower()
    return (typ, ns, name, version, quals)


def purl_string(typ, ns, name, version, quals):
    """packageurl-go's String(): each part escaped as url.QueryEscape (space as %20)."""
    esc = lambda x: quote(x, safe="-_.~")
    path = [typ] + [esc(x) for x in ns.split("/") if x]
    nv = esc(name) + ("@" + esc(version) if version else "")
    q = "&".join(f"{k}={quote(v, safe='-_.~')}" for k, v in quals if v)
    return "pkg:" + "/".join(path + [nv]) + ("?" + q if q else "")


# --- go-vex v0.2.8 ---------------------------------------------------------


def purl_matches(p1s, p2s):
    p1, p2 = purl_parse(p1s), purl_parse(p2s)
    if p1 is None or p2 is None:
        return False
    if p1[:3] != p2[:3]:
        return False
    if p1[3] != "" and p2[3] == "":
        return False
    if p1[3] != p2[3] and p1[3] != "" and p2[3] != "":
        return False
    q2 = dict(p2[4])
    return all(k in q2 and q2[k] == v for k, v in dict(p1[4]).items())


def component_matches(c, identifier):
    cid = c.get("@id", "")
    if cid == identifier and cid != "":
        return True
    if cid.startswith("pkg:") and purl_matches(cid, identifier):
        return True
    for t, i in (c.get("identifiers") or {}).items():
        if i == identifier:
            return True
        if t == "purl" and identifier.startswith("pkg:") and purl_matches(i, identifier):
            return True
    return any(h == identifier for h in (c.get("hashes") or {}).values())


def product_matches(p, identifier, sub):
    if not component_matches(p, identifier):
        return False
    subs = p.get("subcomponents") or []
    if not subs or sub == "":
        return True
    return any(component_matches(s, sub) for s in subs)


def vulnerability_matches(v, identifier):
    return (
        v.get("@id") == identifier
        or v.get("name") == identifier
        or identifier in (v.get("aliases") or [])
    )


def statement_matches(st, vuln, product, subcomponents):
    if not vulnerability_matches(st["vulnerability"], vuln):
        return False
    for p in st.get("products") or []:
        if not subcomponents and product_matches(p, product, ""):
            return True
        if any(product_matches(p, product, sc) for sc in subcomponents):
            return True
    return False


def vex_matches(doc, vuln, product, subcomponents):
    # Newest last: both scanners take the last/first of the sorted list; all
    # of rootwasm's statements have the document's timestamp.
    return [s for s in reversed(doc["statements"]) if statement_matches(s, vuln, product, subcomponents)]


# --- go-containerregistry pkg/name ---------------------------------------


def parse_reference(s):
    """(registry as written or index.docker.io, repository path, tag, digest)."""
    digest = tag = None
    if "@" in s:
        s, digest = s.split("@", 1)
    first, sep, _ = s.partition("/")
    has_registry = sep and ("." in first or ":" in first or first == "localhost")
    last = s.rsplit("/", 1)[-1]
    if ":" in last:
        s, tag = s.rsplit(":", 1)
    if has_registry:
        registry, repo = s.split("/", 1)
    else:
        registry, repo = "", s
    if registry in ("", "docker.io"):
        registry = "index.docker.io"
        if "/" not in repo:
            repo = "library/" + repo
    return registry, repo, tag, digest


# --- Trivy -------------------------------------------------------------------


def trivy_image_purl(image):
    """pkg/fanal/image/remote.go RepoDigests, then pkg/purl/purl.go parseOCI."""
    registry, repo, _, _ = parse_reference(image["reference"])
    if registry == "index.docker.io":
        repo_name = repo[len("library/"):] if repo.startswith("library/") else repo
    else:
        repo_name = f"{registry}/{repo}"
    repo_digest = f"{repo_name}@{image['digest']}"
    registry, repo, _, digest = parse_reference(repo_digest)
    name = repo.lower().rsplit("/", 1)[-1]
    quals = [("repository_url", f"{registry}/{repo}")]
    if image.get("arch"):
        quals.append(("arch", image["arch"]))
    return purl_string("oci", "", name, digest, quals)


def trivy_package_purl(pkg, image):
    """pkg/purl/purl.go New: the epoch moves to a qualifier, distro from /etc/debian_version."""
    if pkg["ecosystem"] == "deb":
        version, quals = pkg["version"], []
        if pkg.get("arch"):
            quals.append(("arch", pkg["arch"]))
        m = re.fullmatch(r"(\d+):(.*)", version)
        if m:
            quals.append(("epoch", m.group(1)))
            version = m.group(2)
        quals.append(("distro", f"debian-{image['debian_version']}"))
        return purl_string("deb", "debian", pkg["name"], version, quals)
    if pkg["ecosystem"] == "pypi":
        return purl_string("pypi", "", pkg["name"].replace("_", "-").lower(), pkg["version"], [])
    raise ValueError(pkg["ecosystem"])


def trivy_openvex(doc, scenario):
    """pkg/vex/vex.go filterVulnerabilities + reachRoot over an image's BOM:
    root (the image) -> OS or python-pkg application -> package."""
    image = scenario["image"]
    # parseOCI: no repo digest (a local layout or archive), no image purl.
    root_purl = trivy_image_purl(image) if image["source"] != "local" else None

    def not_affected(vuln, product_purl, leaf_purl):
        if product_purl is None:  # the OS and application components have no purl
            return False
        stmts = vex_matches(doc, vuln, product_purl, [leaf_purl or ""])
        return bool(stmts) and stmts[-1]["status"] in ("not_affected", "fixed")

    out = []
    for f in scenario["findings"]:
        leaf = trivy_package_purl(f["package"], image)
        suppressed = (
            not_affected(f["id"], leaf, None)  # the package as product
            or not_affected(f["id"], leaf, leaf)
            # its one path to the root: the OS or application component (no
            # purl, so never a match), then the image
            or not_affected(f["id"], root_purl, leaf)
        )
        out.append((f, suppressed))
    return out


BOM_LINK = re.compile(
    r"^urn:cdx:([\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12})/([1-9]\d*)"
    r"(?:#([\da-zA-Z\-._~%!$&'()*+,;=:@/?]+))?$"
)


def go_query_unescape(s):
    return unquote(s.replace("+", " "))


def trivy_cyclonedx(vex, sbom, scenario):
    """pkg/vex/cyclonedx.go over `trivy sbom <sbom> --vex <vex>`."""
    if not any(c.get("type") == "operating-system" for c in sbom.get("components", [])):
        raise SystemExit("trivy sbom: no operating-system component: no OS, no OS package is scanned")
    statements = {}
    for v in vex.get("vulnerabilities") or []:
        state = (v.get("analysis") or {}).get("state")
        status = {
            "resolved": "fixed",
            "resolved_with_pedigree": "fixed",
            "not_affected": "not_affected",
            "false_positive": "not_affected",
        }.get(state, "other")
        statements[v["id"]] = ([a["ref"] for a in v.get("affects") or []], status)  # the last one wins
    by_purl = {}
    for c in sbom.get("components", []):
        if c.get("purl"):
            by_purl[(c["name"], c.get("version"))] = c
    out = []
    for f in scenario["findings"]:
        p = f["package"]
        comp = by_purl.get((p["name"], p["version"]))
        suppressed = False
        st = statements.get(f["id"])
        if st and comp and st[1] in ("fixed", "not_affected"):
            for ref in st[0]:
                m = BOM_LINK.match(ref)
                if not m:
                    continue  # "Unable to parse BOM-Link"
                serial, version = "urn:uuid:" + m.group(1), int(m.group(2))
                if serial != sbom.get("serialNumber") or version != sbom.get("version"):
                    continue
                link_ref = go_query_unescape(m.group(3) or "")
                # PkgIdentifier.Match: a purl is compared re-serialised.
                parsed = purl_parse(link_ref) if link_ref.startswith("pkg:") else None
                if comp.get("bom-ref") == link_ref or (
                    parsed is not None and purl_parse(comp["purl"]) == parsed
                ):
                    suppressed = True
                    break
        out.append((f, suppressed))
    return out


# --- Grype -------------------------------------------------------------------


def normalize_docker_hub(url):
    url = url.strip()
    if not url:
        return url
    for p in ("https://", "http://"):
        if url.startswith(p):
            url = url[len(p):]
    url = url.rstrip("/") if url.endswith("/") else url
    host, sep, rest = url.partition("/")
    if host.lower() in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        host = "index.docker.io"
    return host if not sep or not rest else host + "/" + rest


def identifiers_from_tags(tags, name):
    ids = []
    for t in tags:
        ids.append(t)
        _, sep, split_tag = t.partition(":")  # the first ':', a registry port's too
        if sep:
            ids.append(purl_string("oci", "", name, "", [("tag", split_tag)]))
    return ids


def identifiers_from_digests(digests):
    ids = []
    for d in digests:
        ids.append(d)
        if "@" not in d:
            continue
        reg, rp, _, sha = parse_reference(d)
        if not sha.startswith("sha256:"):
            continue
        last = rp.split("/")[-1]
        repo_url = f"{reg}/{rp}"
        if repo_url.endswith("/" + last):
            repo_url = repo_url[: -len("/" + last)]
        repo_url = normalize_docker_hub(repo_url)
        quals = [("repository_url", repo_url)] if repo_url else []
        ids.append(purl_string("oci", "", last, sha, quals))
        ids.append(sha[len("sha256:"):])
    return ids


def grype_products(image):
    """Stereoscope's metadata for the source, then productIdentifiersFromContext."""
    ref = image["reference"]
    registry, repo, tag, _ = parse_reference(ref)
    # Syft's source name: distribution's reference.Parse(input).Name(), as typed.
    name = ref.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    if image["source"] == "local":
        # An OCI layout or archive: stereoscope records no tag or repo digest.
        tags, repo_digests = [], []
    elif image["source"] == "registry":
        # registry_provider.go: one repo digest (what the reference resolved to), no tags.
        tags = []
        repo_digests = [f"{registry}/{repo}@{image['digest']}"]
    else:
        # A Docker daemon: the pulled tag (name.Tag.String(), registry spelled
        # out) and the repo digest it was pulled by.
        tags = [f"{registry}/{repo}:{tag}"] if tag else []
        # An image `docker load`ed from an archive has no repo digest.
        repo_digests = [f"{name}@{image['digest']}"] if image["source"] == "daemon" else []
    return identifiers_from_tags(tags, name) + identifiers_from_digests(repo_digests)


def selftest():
    """The port against the upstream tests' own vectors."""
    # go-vex pkg/vex/vex_test.go TestPurlMatches
    for p1, p2, want in [
        ("pkg:apk/wolfi/curl@8.1.2-r0?arch=x86_64", "pkg:apk/wolfi/curl@8.1.2-r0?arch=x86_64", True),
        ("pkg:apk/wolfi/curl@8.1.2-r0?arch=x86_64", "pkg:rpm/wolfi/curl@8.1.2-r0?arch=x86_64", False),
        ("pkg:apk/wolfi/curl@8.1.2-r0?arch=x86_64", "pkg:apk/alpine/curl@8.1.2-r0?arch=x86_64", False),
        ("pkg:apk/wolfi/curl@8.1.2-r0?arch=x86_64", "pkg:apk/wolfi/bash@8.1.2-r0?arch=x86_64", False),
        ("pkg:apk/wolfi/curl@8.1.2-r0?arch=x86_64", "pkg:apk/wolfi/bash@8.1.3-r0?arch=x86_64", False),
        ("pkg:apk/wolfi/curl@8.1.2-r0", "pkg:apk/wolfi/curl@8.1.2-r0?arch=x86_64", True),
        ("pkg:apk/wolfi/curl@8.1.2-r0?arch=x86_64", "pkg:apk/wolfi/curl@8.1.2-r0", False),
        ("pkg:oci/curl", "pkg:oci/curl@sha256:47fed8868b46b060efb8699dc40e981a0c785650223e03602d8c4493fc75b68c", True),
        (
            "pkg:oci/curl@sha256:47fed8868b46b060efb8699dc40e981a0c785650223e03602d8c4493fc75b68c?arch=amd64&os=linux",
            "pkg:oci/curl@sha256:47fed8868b46b060efb8699dc40e981a0c785650223e03602d8c4493fc75b68c?arch=arm64&os=linux",
            False,
        ),
        ("pkg:apk/wolfi/curl@8.1.2-r0?arch=x86_64", "pkg:apk/wolfi/curl@8.1.2-r0?arch=x86_64&os=linux", True),
    ]:
        assert purl_matches(p1, p2) == want, (p1, p2, want)
    # grype implementation_test.go TestIdentifiersFromTags / TestIdentifiersFromDigests
    assert identifiers_from_tags(["alpine:v1.2.3"], "alpine") == ["alpine:v1.2.3", "pkg:oci/alpine?tag=v1.2.3"]
    assert identifiers_from_tags(["alpine"], "alpine") == ["alpine"]
    d = "124c7d2707904eea7431fffe91522a01e5a861a624ee31d03372cc1d138a3126"
    assert identifiers_from_digests([f"alpine@sha256:{d}"]) == [
        f"alpine@sha256:{d}",
        f"pkg:oci/alpine@sha256%3A{d}?repository_url=index.docker.io%2Flibrary",
        d,
    ]
    d = "9543ed09a38605c25c75486573cf530bd886615b993d5e1d1aa58fe5491287bc"
    assert identifiers_from_digests([f"cgr.dev/chainguard/curl@sha256:{d}"]) == [
        f"cgr.dev/chainguard/curl@sha256:{d}",
        f"pkg:oci/curl@sha256%3A{d}?repository_url=cgr.dev%2Fchainguard",
        d,
    ]
    assert identifiers_from_digests(["alpine"]) == ["alpine"]
    # cyclonedx-go link.go: a BOM-Link and its Go url.QueryEscape'd reference
    m = BOM_LINK.match("urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#pkg%3Adeb%2Fdebian%2Fa%402%2Bb")
    assert m and go_query_unescape(m.group(3)) == "pkg:deb/debian/a@2+b"
    assert not BOM_LINK.match("pkg:deb/debian/a@2")
    print("ok")


def grype_openvex(doc, scenario):
    products = grype_products(scenario["image"])
    out = []
    for f in scenario["findings"]:
        subcmp = [f["package"]["syft_purl"]] if f["package"].get("syft_purl") else []
        stmt = None
        for product in products:
            found = vex_matches(doc, f["id"], product, subcmp)
            if found:
                stmt = found[0]
                break
        if stmt is None:
            for pkg_id in subcmp:
                found = vex_matches(doc, f["id"], pkg_id, [])
                if found:
                    stmt = found[0]
                    break
        out.append((f, stmt is not None and stmt["status"] in ("fixed", "not_affected")))
    return out


def main():
    if sys.argv[1] == "selftest":
        return selftest()
    scenario = json.load(open(sys.argv[1]))
    vex = json.load(open(scenario["vex"]))
    scanner = scenario["scanner"]
    if scanner == "trivy-sbom":
        result = trivy_cyclonedx(vex, json.load(open(scenario["sbom"])), scenario)
    elif "@context" not in vex:
        # pkg/vex/document.go: a CycloneDX VEX needs a CycloneDX SBOM target.
        raise SystemExit("CycloneDX VEX can be used with CycloneDX SBOM")
    elif scanner == "trivy":
        result = trivy_openvex(vex, scenario)
    elif scanner == "grype":
        result = grype_openvex(vex, scenario)
    else:
        raise SystemExit(f"unknown scanner {scanner}")
    print(json.dumps({
        "suppressed": sorted([f["id"], f["package"]["name"]] for f, s in result if s),
        "kept": sorted([f["id"], f["package"]["name"]] for f, s in result if not s),
    }))


if __name__ == "__main__":
    main()
