from diffbench.jobs import end_process, hub_setting_for_fetch, job
from diffbench.stages.assets import fetch_pretrained

with job(snakemake.log[0], snakemake.threads):
    hub_setting_for_fetch()  # jobs inherit HF_HUB_OFFLINE=1; the fetch uses the user's own setting
    fetch_pretrained(
        name=snakemake.wildcards.model, pretrained=snakemake.params.pretrained, out_record=snakemake.output.record
    )
end_process()
