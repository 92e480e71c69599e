from sqlalchemy import update

from vesalius.core import audit
from vesalius.core.home import Home


def test_audit_chain_verifies_and_detects_tampering(home: Home) -> None:
    with home.db.write() as session, session.begin():
        for n in range(3):
            audit.record(session, actor="os:tester", action="test", target=f"t{n}", detail={"n": n})
    with home.db.read() as session:
        assert audit.verify_chain(session) is None
        events = session.query(audit.AuditEvent).order_by(audit.AuditEvent.id).all()
        assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
        second = events[1].id
    with home.db.write() as session, session.begin():
        session.execute(
            update(audit.AuditEvent).where(audit.AuditEvent.id == second).values(target="edited")
        )
    with home.db.read() as session:
        assert audit.verify_chain(session) == second
