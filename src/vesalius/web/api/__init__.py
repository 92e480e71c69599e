"""REST under /api (DESIGN.md's REST contract); OpenAPI at /api/docs."""

from fastapi import APIRouter

from vesalius.web.api import archive, deliveries, qc, reports, studies, system

router = APIRouter(prefix="/api")
router.include_router(system.router)
router.include_router(archive.router)
router.include_router(studies.router)
router.include_router(qc.router)
router.include_router(reports.router)
router.include_router(deliveries.router)
