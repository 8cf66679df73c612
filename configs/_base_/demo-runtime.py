# The budget of the CPU demos on the generated scans (semseg-demo.py, det-demo.py): minutes on 2 cores.
batch_size = 2
batch_size_val = 2
num_worker = 2
max_steps = 100
eval_interval = 100
save_interval = 100
log_interval = 10
amp_dtype = None  # fp32 on CPU: bf16 autocast is slower than fp32 there
