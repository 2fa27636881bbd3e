"""The Liquor POS demo: the project of the reference deployment readiness review, loaded with
its catalog, environments, people, release history and the review's own findings."""
