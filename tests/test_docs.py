from diffbench.docs import BEGIN, END, reference
from helpers import REPO


def test_config_reference_is_generated_from_the_schema():
    text = (REPO / "config" / "README.md").read_text()
    section = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert section == reference(), "config/README.md's reference is stale: run `make docs`"


def test_readme_is_a_landing_page_with_the_two_commands():
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```bash", 1)[1].split("```", 1)[0]
    assert "make run" in first_block and "make test" in first_block
    assert "make test" in (REPO / ".ci" / "run").read_text()
    assert len(readme.splitlines()) <= 170, "README.md is the landing page: depth belongs in docs/"


def test_every_relative_link_in_the_docs_resolves():
    import re

    pages = [REPO / "README.md", REPO / "CONTRIBUTING.md", REPO / "config" / "README.md", *(REPO / "docs").glob("*.md")]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(REPO)} -> {target}")
    assert not broken, broken
