from tests.integration import test_capture_special as t
def test_peek(special):
    for u, g in special.by_url.items():
        print(u, g.evidence.status, g.evidence.rule, g.evidence.reason, [(p.code, p.message) for p in g.evidence.problems], g.evidence.probe)
