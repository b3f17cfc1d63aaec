#!/usr/bin/env python3
"""Independent XAdES enveloped-signature check for trusted lists (test oracle).

Uses libxml2's canonicaliser (through lxml) and pyca/cryptography, none of the code under
test: `xades_verify.py LIST.xml SIGNER.pem` exits 0 when every reference digest and the
SignatureValue verify with the given certificate's key, 1 otherwise (reason on stdout).
Supports RSA PKCS#1 v1.5, RSASSA-PSS (xmldsig-more#sha256-rsa-MGF1 family) and ECDSA.
"""
import base64
import sys

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
DIGESTS = {
    "http://www.w3.org/2001/04/xmlenc#sha256": hashes.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": hashes.SHA384,
    "http://www.w3.org/2001/04/xmlenc#sha512": hashes.SHA512,
}
MORE = "http://www.w3.org/2001/04/xmldsig-more#"
MGF1 = "http://www.w3.org/2007/05/xmldsig-more#"
METHODS = {
    MORE + "rsa-sha256": ("pkcs1", hashes.SHA256),
    MORE + "rsa-sha384": ("pkcs1", hashes.SHA384),
    MORE + "rsa-sha512": ("pkcs1", hashes.SHA512),
    MGF1 + "sha256-rsa-MGF1": ("pss", hashes.SHA256),
    MGF1 + "sha384-rsa-MGF1": ("pss", hashes.SHA384),
    MGF1 + "sha512-rsa-MGF1": ("pss", hashes.SHA512),
    MORE + "ecdsa-sha256": ("ecdsa", hashes.SHA256),
    MORE + "ecdsa-sha384": ("ecdsa", hashes.SHA384),
    MORE + "ecdsa-sha512": ("ecdsa", hashes.SHA512),
}


def digest(alg, data):
    h = hashes.Hash(DIGESTS[alg]())
    h.update(data)
    return h.finalize()


def canon(node, exclusive):
    return etree.tostring(node, method="c14n", exclusive=exclusive, with_comments=False)


def main(path, cert_path):
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.parse(path, parser).getroot()
    sigs = root.findall(f"{{{DS}}}Signature")
    if len(sigs) != 1:
        return f"expected one ds:Signature child of the root, found {len(sigs)}"
    sig = sigs[0]
    si = sig.find(f"{{{DS}}}SignedInfo")
    for ref in si.findall(f"{{{DS}}}Reference"):
        uri = ref.get("URI")
        algs = [t.get("Algorithm") for t in ref.iter(f"{{{DS}}}Transform")]
        exclusive = any("exc-c14n" in a for a in algs)
        if uri == "" or uri == "#" + (root.get("Id") or ""):
            copy = etree.fromstring(etree.tostring(root), parser)
            for s in copy.findall(f"{{{DS}}}Signature"):
                copy.remove(s)
            target = copy
        else:
            found = root.xpath("//*[@Id=$id]", id=uri[1:])
            if len(found) != 1:
                return f"reference {uri} does not resolve"
            target = found[0]
        got = digest(ref.find(f"{{{DS}}}DigestMethod").get("Algorithm"), canon(target, exclusive))
        want = base64.b64decode(ref.find(f"{{{DS}}}DigestValue").text)
        if got != want:
            return f"digest mismatch for reference {uri!r}"
    cm = si.find(f"{{{DS}}}CanonicalizationMethod").get("Algorithm")
    signed = canon(si, "exc-c14n" in cm)
    family, hash_cls = METHODS[si.find(f"{{{DS}}}SignatureMethod").get("Algorithm")]
    value = base64.b64decode("".join(sig.find(f"{{{DS}}}SignatureValue").text.split()))
    with open(cert_path, "rb") as f:
        key = x509.load_pem_x509_certificate(f.read()).public_key()
    try:
        if family == "pkcs1":
            key.verify(value, signed, padding.PKCS1v15(), hash_cls())
        elif family == "pss":
            pss = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=hash_cls.digest_size)
            key.verify(value, signed, pss, hash_cls())
        else:
            half = len(value) // 2
            der = utils.encode_dss_signature(int.from_bytes(value[:half], "big"), int.from_bytes(value[half:], "big"))
            key.verify(der, signed, ec.ECDSA(hash_cls()))
    except InvalidSignature:
        return "signature value does not verify"
    return None


if __name__ == "__main__":
    err = main(sys.argv[1], sys.argv[2])
    if err:
        print(err)
        sys.exit(1)
    print("ok")
